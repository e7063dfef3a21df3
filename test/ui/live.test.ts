import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { git, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = 20_000;

/**
 * Where the waterfall's screenshot goes: a temp file, so `npm test` never rewrites the tracked
 * docs/waterfall.png; `npm run screenshot` sets GG_SCREENSHOT to refresh it on purpose.
 */
function screenshotPath(home: string): string {
  const target = process.env.GG_SCREENSHOT ?? join(home, 'shots', 'waterfall.png');
  mkdirSync(dirname(target), { recursive: true });
  return target;
}

/** Nothing user-controlled became markup: no injected element, no script ran. */
async function expectInert(page: Page): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).to.equal(undefined);
  expect(await page.locator('img').count(), 'img elements').to.equal(0);
  expect(await page.locator('b.injected, i.injected').count(), 'injected elements').to.equal(0);
  const scripts = await page.evaluate(() => [...document.scripts].map((s) => s.getAttribute('src')));
  expect(scripts).to.deep.equal(['/static/app.js']);
}

describe('waterfall and build pages in a real browser (live)', function () {
  this.timeout(60_000);
  const home = tempHome('gg-ui-');
  const repo = new Repo(home.dir);
  const step = join(home.dir, 'step');
  const release = join(home.dir, 'release');
  const release2 = join(home.dir, 'release2');
  let server: ServerProcess;
  let runner: ChildProcess;
  let browser: Browser;
  const pageErrors: string[] = [];

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [
      // The tests wait for files this test writes in its home (outside the sandbox's own /tmp).
      { name: 'unit', tests: 'test/*.test.sh', run: 'for f in "$@"; do sh "$f" || exit 1; done', junit: 'junit.xml', timeout: 60, sandbox: { readOnly: [home.dir] } },
      { name: 'lint', run: 'echo "\\033[32mlint ok\\033[0m"', timeout: 60 },
    ] }]);
    server = await new ServerProcess(config).start();
    runner = startRunner(server.url, 'r1', home.dir, { slots: 4 });
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  afterEach(() => {
    expect(pageErrors.splice(0), 'errors in the pages').to.deep.equal([]);
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  });

  async function open(path: string, viewport = { width: 1280, height: 760 }): Promise<Page> {
    const page = await browser.newPage({ viewport }); // its own context: never a background tab
    page.on('pageerror', (err) => pageErrors.push(`${path}: ${err.message}`));
    await page.goto(server.url + path);
    return page;
  }

  it('shows a push running then red, a fix green, the banner flipping and a runner\'s line, all without a reload', async () => {
    const waterfall = await open('/', { width: 1024, height: 540 });
    await waterfall.waitForSelector('#live-status.on', { timeout: WAIT });
    expect(await waterfall.textContent('.empty')).to.contain('No pushes yet');
    expect(await waterfall.title()).to.equal('greengate waterfall');
    await waterfall.evaluate(() => { (window as unknown as { marker: number }).marker = 1; }); // gone if the page reloads

    const base = repo.commit({ 'test/a.test.sh': 'echo a ok\n', 'test/b.test.sh': 'echo b ok\n', 'test/c.test.sh': 'echo c ok\n' },
      'Add the cart and its first tests');
    repo.push();
    await waterfall.waitForSelector(`tr[data-sha="${base}"] td.cell.passed + td.cell.passed`, { timeout: WAIT });

    const red = repo.commit({ 'test/c.test.sh': [
      'echo "first line from the runner"',
      `while [ ! -f '${step}' ]; do sleep 0.02; done`,
      'echo "\\033[1;31mprinted while you watch\\033[0m"',
      `while [ ! -f '${release}' ]; do sleep 0.02; done`,
      'echo "expected 2, got 3" >&2', 'exit 1', ''].join('\n') }, 'Drop the quantity from the cart total');
    expect(repo.push().ok).to.equal(true);
    const running = await waterfall.waitForSelector(`tr[data-sha="${red}"] td.cell.running >> text=/2\\/3 files/`, { timeout: WAIT });
    await waterfall.waitForSelector(`tr[data-sha="${red}"] td.cell.passed`, { timeout: WAIT }); // lint
    expect(await waterfall.getAttribute('.banner', 'data-state')).to.equal('open');
    const buildId = Number(await running.evaluate((el) => el.closest('td')!.getAttribute('data-build')));

    const runners = await open('/runners');
    expect(await runners.textContent('tr[data-runner="r1"]')).to.contain(`build ${buildId}`);
    await runners.close();

    const build = await open(`/builds/${buildId}`);
    await build.waitForSelector('pre.log .ln >> text=first line from the runner', { timeout: WAIT });
    await build.waitForSelector('#live-status.on', { timeout: WAIT });
    writeFileSync(step, '');
    const live = await build.waitForSelector('pre.log .ln >> text=printed while you watch', { timeout: WAIT });
    expect(await live.evaluate((el) => getComputedStyle(el).fontWeight)).to.equal('700'); // ANSI bold

    writeFileSync(release, '');
    await waterfall.waitForSelector(`tr[data-sha="${red}"] td.cell.failed`, { timeout: WAIT });
    await waterfall.waitForSelector('.banner.closed[data-repo="shop"][data-branch="main"]', { timeout: WAIT });
    expect(await waterfall.textContent('.banner.closed')).to.contain(red.slice(0, 10)).and.contain('Drop the quantity');
    expect(await waterfall.title()).to.contain('shop/main closed'); // the tab says it too
    expect(await waterfall.getAttribute('#favicon', 'href')).to.equal('/static/icon-closed.svg');
    await build.waitForSelector('.build-head.failed', { timeout: WAIT });
    await build.waitForSelector('pre.log .ln >> text=expected 2, got 3', { timeout: WAIT });
    await build.close();

    const green = repo.commit({ 'test/c.test.sh': `while [ ! -f '${release2}' ]; do sleep 0.02; done\necho c ok\n` },
      'Put the quantity back in the cart total');
    git(repo.work, 'push', '--quiet', 'origin', 'HEAD:refs/try/ada-fix');
    repo.push();
    await waterfall.waitForSelector(`tr[data-sha="${green}"] td.cell.running >> text=/2\\/3 files/`, { timeout: WAIT });
    await waterfall.waitForSelector('.tries tr[data-branch="ada-fix"] td.cell.running', { timeout: WAIT });
    const shot = screenshotPath(home.dir);
    await waterfall.screenshot({ path: shot });
    expect(readFileSync(shot).subarray(1, 4).toString()).to.equal('PNG');

    writeFileSync(release2, '');
    await waterfall.waitForSelector(`tr[data-sha="${green}"] td.cell.passed + td.cell.passed`, { timeout: WAIT });
    await waterfall.waitForSelector('.banner.open[data-branch="main"]', { timeout: WAIT });
    await waterfall.waitForSelector('.tries tr[data-branch="ada-fix"] td.cell.passed + td.cell.passed', { timeout: WAIT });
    expect(await waterfall.locator('.pushes tbody tr').first().getAttribute('data-sha')).to.equal(green);
    expect(await waterfall.evaluate(() => (window as unknown as { marker?: number }).marker)).to.equal(1);
    await waterfall.close();
  });

  it('escapes commit subjects, author names, branch names, log lines and test names', async () => {
    const payload = (n: number) => `<script>window.__xss=${n}</script> "><img src=x onerror="window.__xss=${n + 1}"><b class="injected">b</b>`;
    const branch = `x"><img/src=x/onerror=window.__xss=20><i/class=injected>`;
    const author = `Eve "quoted" onmouseover="window.__xss=52" &amp; co`; // git drops < and > from names
    const junit = `<testsuites><testsuite name="cart" tests="2">
<testcase classname="cart &lt;script&gt;window.__xss=30&lt;/script&gt;" name="&quot;&gt;&lt;img src=x onerror=window.__xss=31&gt; adds" time="0.2" file="test/a.test.js">
<failure message="&lt;img src=x onerror=window.__xss=32&gt;">boom &lt;script&gt;window.__xss=33&lt;/script&gt;</failure></testcase>
<testcase classname="cart" name="slow one" time="1.5" file="test/b.test.js"/></testsuite></testsuites>`;
    repo.commit({ 'test/a.test.sh': `printf '%s\\n' '${payload(10).replace(/'/g, `'"'"'`)}'\ncat > junit.xml <<'XML'\n${junit}\nXML\nexit 1\n` },
      `Subject ${payload(40)}`);
    git(repo.work, 'commit', '--quiet', '--amend', '--no-edit', `--author=${author} <evil@example.com>`);
    const sha = git(repo.work, 'rev-parse', 'HEAD');
    const pushed = repo.push(`HEAD:refs/heads/${branch}`);
    expect(pushed.ok, pushed.output).to.equal(true);
    const builds = await pollUntil(async () => {
      const all = (await server.builds()).filter((b: any) => b.sha === sha);
      return all.length === 2 && all.every((b: any) => b.state === 'done') ? all : null;
    }, 'the payload builds to finish', WAIT);
    const unitBuild = builds.find((b: any) => b.builder === 'unit');

    const waterfall = await open('/');
    await waterfall.waitForSelector(`tr[data-sha="${sha}"]`);
    expect(await waterfall.getAttribute(`tr[data-sha="${sha}"]`, 'data-branch')).to.equal(branch);
    const row = await waterfall.textContent(`tr[data-sha="${sha}"]`);
    expect(row).to.contain(`Subject ${payload(40)}`).and.contain(author).and.contain(branch);
    await expectInert(waterfall);

    const page = await open(`/builds/${unitBuild.id}`);
    await page.waitForSelector('pre.log .ln >> text=window.__xss=10', { timeout: WAIT });
    const body = await page.textContent('body');
    expect(body).to.contain(payload(10)).and.contain(payload(40)).and.contain(author).and.contain(branch);
    expect(body).to.contain('cart <script>window.__xss=30</script>').and.contain('"><img src=x onerror=window.__xss=31> adds');
    expect(body).to.contain('<img src=x onerror=window.__xss=32>');
    expect(await page.locator('.failures .failure').count()).to.be.greaterThan(0);
    await expectInert(page);

    for (const path of ['/tests', '/tree', `/builds/${unitBuild.id}/log`,
      `/tests/history?repo=shop&builder=unit&classname=cart&name=${encodeURIComponent('slow one')}`]) {
      const p = await open(path);
      await p.waitForLoadState('load');
      if (path === '/tests') expect(await p.textContent('body')).to.contain('window.__xss=31').and.contain('slow one');
      if (path.startsWith('/tests/history')) expect(await p.locator('svg.chart rect.bar').count()).to.be.greaterThan(0);
      if (path === '/tree') expect(await p.textContent('body'), await p.content()).to.contain('Drop the quantity');
      if (path.endsWith('/log')) await p.waitForSelector('pre.log .ln >> text=window.__xss=10', { timeout: WAIT });
      await expectInert(p);
      await p.close();
    }
    await waterfall.close();
    await page.close();
  });
});
