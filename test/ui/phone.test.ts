import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningServer } from '../../server/main.js';
import { rolledBackDeploy } from './fixtures.js';
import { ADMIN_TOKEN, git, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = 40_000;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const BUILDERS = ['unit', 'lint', 'types', 'integration', 'docs', 'bundle-size'];

/** Where an element is, and whether a click at its centre would reach it (nothing covers it). */
async function box(page: Page, selector: string) {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel) as HTMLElement;
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, reachable: !!hit && (hit === el || el.contains(hit)),
      vw: document.documentElement.clientWidth, vh: window.innerHeight };
  }, selector);
}

function expectFullyVisible(b: Awaited<ReturnType<typeof box>>, what: string) {
  expect(b.left, `${what} left`).to.be.at.least(0);
  expect(b.top, `${what} top`).to.be.at.least(0);
  expect(b.right, `${what} right`).to.be.at.most(b.vw);
  expect(b.bottom, `${what} bottom`).to.be.at.most(b.vh);
  expect(b.reachable, `${what} not covered`).to.equal(true);
}

async function pageScrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

describe('waterfall on a phone and a desktop, filters by branch and author, status badges (real browser)', function () {
  this.timeout(120_000);
  const home = tempHome('gg-ui-phone-');
  const repo = new Repo(home.dir);
  let server: ServerProcess;
  let runner: ChildProcess;
  let browser: Browser;
  let mainSha = '';
  let featureSha = '';

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: BUILDERS.map((name) => ({ name, run: 'sh ./run.sh' })) }]);
    server = await new ServerProcess(config).start();
    runner = startRunner(server.url, 'r1', home.dir, { slots: 2 });
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    mainSha = repo.commit({ 'run.sh': 'exit 0\n' }, 'Green on main');
    repo.push();
    await pollUntil(async () => { const b = await server.builds(); return b.length === BUILDERS.length && b.every((x) => x.state === 'done'); }, 'main\'s builds', WAIT);
    writeFileSync(join(repo.work, 'run.sh'), 'exit 1\n');
    git(repo.work, 'commit', '--quiet', '-am', 'Red on a feature branch', '--author=Bo Builder <bo@example.com>');
    featureSha = git(repo.work, 'rev-parse', 'HEAD');
    repo.push('HEAD:refs/heads/feature/checkout');
    await pollUntil(async () => { const b = await server.builds(); return b.length === 2 * BUILDERS.length && b.every((x) => x.state === 'done'); },
      'the feature branch\'s builds', WAIT);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  });

  it('on a phone: the page never scrolls sideways, the first results show, every result is reached by scrolling the grid only', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    await page.goto(`${server.url}/`);
    expect(await page.locator('section.pushes td.cell').count()).to.equal(2 * BUILDERS.length);
    expect(await pageScrollsSideways(page)).to.equal(false);
    const grid = await page.evaluate(() => { const s = document.querySelector('section.pushes .scroll')!; return { sw: s.scrollWidth, cw: s.clientWidth }; });
    expect(grid.sw, 'six builders are wider than a phone: the grid scrolls').to.be.greaterThan(grid.cw);
    expectFullyVisible(await box(page, 'section.pushes tbody tr:first-child td.cell'), 'the first result cell');

    const cells = await page.locator('section.pushes td.cell').count();
    for (let i = 0; i < cells; i++) {
      const seen = await page.evaluate((n) => {
        const cell = document.querySelectorAll('section.pushes td.cell')[n] as HTMLElement;
        cell.scrollIntoView({ block: 'nearest', inline: 'nearest' });
        const r = cell.getBoundingClientRect();
        const push = (cell.parentElement!.querySelector('td.push') as HTMLElement).getBoundingClientRect();
        return { left: r.left, right: r.right, pushRight: push.right, pageX: window.scrollX,
          grid: document.querySelector('section.pushes .scroll')!.scrollLeft, vw: document.documentElement.clientWidth };
      }, i);
      expect(seen.pageX, 'the page itself never scrolls sideways').to.equal(0);
      expect(seen.right, `cell ${i} right edge`).to.be.at.most(seen.vw);
      expect(seen.left, `cell ${i} is not under the push column`).to.be.at.least(seen.pushRight - 1);
    }
    const grid2 = await page.evaluate(() => document.querySelector('section.pushes .scroll')!.scrollLeft);
    expect(grid2, 'the grid scrolled to reach the last columns').to.be.greaterThan(0);
    expectFullyVisible(await box(page, 'section.pushes tbody tr:first-child td.push .sha'), 'the push column (sticky) after scrolling');
    await page.close();
  });

  it('on a phone: "admin log in" is fully visible and nothing scrolls sideways on every page', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    const first = (await server.builds()).at(-1)!;
    for (const path of ['/', '/runners', '/tree', '/tests', `/builds/${first.id}`, `/builds/${first.id}/log`, '/login']) {
      await page.goto(server.url + path);
      expectFullyVisible(await box(page, 'header.top a.login'), `admin log in on ${path}`);
      for (const nav of ['Waterfall', 'Runners', 'Tree', 'Tests']) {
        expectFullyVisible(await box(page, `header.top nav a[href="${nav === 'Waterfall' ? '/' : `/${nav.toLowerCase()}`}"]`), `${nav} on ${path}`);
      }
      expect(await pageScrollsSideways(page), `${path} scrolls sideways`).to.equal(false);
    }
    await page.close();
  });

  it('on a desktop: every result cell and the log in link are on screen without scrolling', async () => {
    const page = await browser.newPage({ viewport: DESKTOP });
    await page.goto(`${server.url}/`);
    expect(await pageScrollsSideways(page)).to.equal(false);
    expectFullyVisible(await box(page, 'header.top a.login'), 'admin log in');
    const cells = await page.evaluate(() => [...document.querySelectorAll('section.pushes td.cell')].map((c) => c.getBoundingClientRect().right));
    expect(cells).to.have.length(2 * BUILDERS.length);
    for (const right of cells) expect(right).to.be.at.most(DESKTOP.width);
    const pushWidth = await page.evaluate(() => document.querySelector('section.pushes td.push')!.getBoundingClientRect().width);
    expect(pushWidth, 'the push column keeps its desktop width').to.be.at.least(400);
    await page.close();
  });

  it('filters by branch and by author with the form, the row links and the URL; the live fragment keeps the filter', async () => {
    const page = await browser.newPage({ viewport: DESKTOP });
    const rows = () => page.locator('section.pushes tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.branch));
    await page.goto(`${server.url}/`);
    expect(await rows()).to.deep.equal(['feature/checkout', 'main']);

    await page.fill('form.filters input[name=branch]', 'feature/checkout');
    await Promise.all([page.waitForURL(/branch=feature%2Fcheckout/), page.click('form.filters button')]);
    expect(await rows()).to.deep.equal(['feature/checkout']);
    expect(await page.getAttribute('#live-region', 'data-fragment')).to.equal('/fragments/waterfall?branch=feature%2Fcheckout');
    expect(await page.inputValue('form.filters input[name=branch]')).to.equal('feature/checkout');
    const fragment = await server.api<string>('/fragments/waterfall?branch=feature%2Fcheckout');
    expect(fragment).to.contain(featureSha).and.not.contain(mainSha);

    await page.click('form.filters a.clear');
    await page.waitForURL(`${server.url}/`);
    await Promise.all([page.waitForURL(/author=Bo/), page.click('section.pushes .author a:text("Bo Builder")')]);
    expect(await rows()).to.deep.equal(['feature/checkout']);

    await page.goto(`${server.url}/?author=ADA%40example.com`); // the e-mail, in any case
    expect(await rows()).to.deep.equal(['main']);
    await page.goto(`${server.url}/?author=Ada%20Tester&branch=feature%2Fcheckout`);
    expect(await rows()).to.deep.equal([]);
    expect(await page.textContent('section.pushes .empty')).to.contain('No pushes match');

    await Promise.all([page.waitForURL(/branch=main/), page.goto(`${server.url}/`).then(() => page.click('section.pushes tr[data-branch="main"] a.branch'))]);
    expect(await rows()).to.deep.equal(['main']);

    const tooLong = await fetch(`${server.url}/?author=${'x'.repeat(201)}`);
    expect(tooLong.status).to.equal(400);
    expect(await tooLong.text()).to.contain('at most 200 characters');
    await page.close();
  });

  it('serves a cacheable SVG badge per branch: passed, failed, unknown; an unknown repository is a grey 404', async () => {
    const badge = async (path: string) => {
      const res = await fetch(server.url + path);
      return { status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'),
        etag: res.headers.get('etag'), body: await res.text() };
    };
    const main = await badge('/badge/shop/main.svg');
    expect([main.status, main.type, main.cache]).to.deep.equal([200, 'image/svg+xml; charset=utf-8', 'public, max-age=60']);
    expect(main.body).to.match(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/).and.contain('>passed</text>').and.contain('#2da44e');
    // node:http, not fetch: fetch adds "Cache-Control: no-cache" to a conditional request, as a browser's reload does.
    const again = await new Promise<number>((resolve, reject) => {
      get(`${server.url}/badge/shop/main.svg`, { headers: { 'if-none-match': main.etag! } }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject);
    });
    expect(again, 'a cache revalidates with the ETag').to.equal(304);

    const feature = await badge('/badge/shop/feature/checkout.svg');
    expect(feature.status).to.equal(200);
    expect(feature.body).to.contain('>failed</text>').and.contain('#cf222e');
    const none = await badge('/badge/shop/never-pushed.svg');
    expect(none.status).to.equal(200);
    expect(none.body).to.contain('>unknown</text>').and.contain('#8c959f');
    const stranger = await badge('/badge/nowhere/main.svg');
    expect([stranger.status, stranger.type]).to.deep.equal([404, 'image/svg+xml; charset=utf-8']);
    expect(stranger.body).to.contain('>unknown</text>').and.contain('#8c959f');

    const page = await browser.newPage({ viewport: DESKTOP });
    await page.goto(`${server.url}/tests`); // same origin, so the images load as a README's would
    const sizes = await page.evaluate(async () => Promise.all(['/badge/shop/main.svg', '/badge/shop/feature/checkout.svg'].map((src) =>
      new Promise<number[]>((resolve) => { const img = new Image(); img.onload = () => resolve([img.naturalWidth, img.naturalHeight]); img.onerror = () => resolve([0, 0]); img.src = src; }))));
    for (const [w, h] of sizes) { expect(w).to.be.greaterThan(40); expect(h).to.equal(20); }
    await page.close();
  });
});

/**
 * The tree page's "why" column and a deploy's evidence charts on a 390 px phone: on screen without
 * scrolling sideways. A real deploy (a real runner runs its steps); the watcher is stubbed (its
 * statistics are not the point), as in deploys.test.ts.
 */
describe('tree history and deploy charts on a phone (real browser)', function () {
  this.timeout(90_000);
  const home = tempHome('gg-ui-phone-deploy-');
  const repo = new Repo(home.dir);
  let server: RunningServer;
  let runner: ChildProcess;
  let browser: Browser;
  let deployId: number;

  before(async () => {
    ({ server, runner, deployId } = await rolledBackDeploy(home.dir, repo,
      [{ name: 'canary', run: 'echo deploying', rollback: 'echo rolling back', watch: { seconds: 1, source: { scrape: 'http://127.0.0.1:9/metrics' } } }],
      () => Promise.resolve({ regression: true, evidence: [
        { metric: 'checkout_errors_total_ratio', kind: 'ratio', before: 0.005, after: 0.05, pValue: 1e-12, effect: 10, regression: true,
          samplesBefore: [0.004, 0.006, 0.005, 0.005], samplesAfter: [0.05, 0.048, 0.052, 0.05] }] })));
    const close = await fetch(`${server.url}/api/tree/shop/main`, { method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'payments are down, see https://status.example.com/incidents/2026-12-07/checkout-payments-provider-timeout-and-retries ' +
        'and the long stack trace: at CheckoutService.chargeCardWithRetriesAndIdempotencyKey(checkout/service.ts:412)' }) });
    expect(close.status).to.equal(200);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.close();
    home.cleanup();
  });

  /** The element's box against the viewport, with the page at its left edge (nothing scrolled sideways). */
  const onScreen = (page: Page, selector: string) => page.evaluate((sel) => {
    const r = document.querySelector(sel)!.getBoundingClientRect();
    return { left: r.left, right: r.right, vw: document.documentElement.clientWidth };
  }, selector);

  it('keeps the tree history\'s "why" column on screen: the page does not scroll sideways and no table has to', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    await page.goto(`${server.url}/tree`);
    expect(await page.locator('table.history td.why').first().textContent()).to.contain('payments are down');
    expect(await pageScrollsSideways(page), '/tree scrolls sideways').to.equal(false);
    const why = await onScreen(page, 'table.history td.why');
    expect(why.left, 'the why column\'s left edge').to.be.at.least(0);
    expect(why.right, 'the why column\'s right edge').to.be.at.most(why.vw);
    const message = await onScreen(page, 'table.history td.why pre.message');
    expect(message.right, 'the closure message\'s right edge').to.be.at.most(message.vw);
    await page.close();
  });

  it('scales the deploy chart to the phone\'s width: on screen, the page does not scroll sideways', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    for (const path of [`/deploys/${deployId}`, '/deploys']) {
      await page.goto(server.url + path);
      expect(await pageScrollsSideways(page), `${path} scrolls sideways`).to.equal(false);
    }
    await page.goto(`${server.url}/deploys/${deployId}`);
    const chart = await onScreen(page, 'svg.evidence-chart');
    expect(chart.left, 'the chart\'s left edge').to.be.at.least(0);
    expect(chart.right, 'the chart\'s right edge').to.be.at.most(chart.vw);
    const table = await page.evaluate(() => { const t = document.querySelector('table.evidence')!; return t.scrollWidth <= t.clientWidth + 1; });
    expect(table, 'the evidence table fits without scrolling').to.equal(true);
    await page.close();
  });
});
