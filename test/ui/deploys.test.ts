import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningServer } from '../../server/main.js';
import type { Verdict } from '../../server/deploy/hooks.js';
import type { WatchConfig } from '../../server/config/deploy.js';
import { ADMIN_TOKEN, Repo, stopChild, tempHome } from '../helpers.js';
import { CHROMIUM_ARGS, rolledBackDeploy } from './fixtures.js';

/**
 * The deploys lane, /deploys and a deploy page in a real browser, after a real deploy (a real
 * runner runs its steps) that the watcher — stubbed: its statistics are not the point here —
 * finds regressed.
 */
describe('deploy pages: lane on the waterfall, /deploys, a deploy with its evidence charts (real browser)', function () {
  this.timeout(90_000);
  const home = tempHome('gg-ui-deploys-');
  const repo = new Repo(home.dir);
  let server: RunningServer;
  let runner: ChildProcess;
  let browser: Browser;
  let page: Page;
  let deployId: number;
  const verdict: Verdict = { regression: true, evidence: [
    { metric: 'errors<script>', kind: 'ratio', before: 0.005, after: 0.05, pValue: 1e-12, effect: 10, regression: true,
      samplesBefore: [0.004, 0.006, 0.005, 0.005], samplesAfter: [0.05, 0.048, 0.052, 0.05] },
    { metric: 'latency_p50', kind: 'latency', before: 20, after: 21, pValue: 0.4, effect: 1.05, regression: false },
  ] };

  before(async () => {
    ({ server, runner, deployId } = await rolledBackDeploy(home.dir, repo, [
      { name: 'canary', run: 'echo deploying', rollback: 'echo rolling back', watch: { seconds: 1, source: { scrape: 'http://127.0.0.1:9/metrics' } } }, // the watcher is stubbed
      { name: 'production', run: 'echo deploying', rollback: 'echo rolling back' }],
    (spec: WatchConfig) => new Promise((resolve) => setTimeout(() => resolve(verdict), spec.seconds * 1000))));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await (await browser.newContext()).newPage();
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.close();
    home.cleanup();
  });

  it('shows the deploy in the waterfall\'s lane, not among try builds, and links to its page', async () => {
    await page.goto(`${server.url}/`);
    const row = page.locator(`.deploys-lane tr[data-deploy="${deployId}"]`);
    expect(await row.locator('.deploy-state').textContent()).to.equal('rolled back');
    expect(await row.locator('.pill.stage').allTextContents()).to.deep.equal(['canary', 'production']);
    expect(await page.locator('section.tries').count()).to.equal(0);
    await Promise.all([page.waitForURL(`${server.url}/deploys/${deployId}`), row.locator('a').first().click()]);
    expect(await page.textContent('#deploy-state')).to.equal('rolled back');
  });

  it('the deploy page shows the verdict and each metric\'s before/after chart as SVG, text escaped', async () => {
    await page.goto(`${server.url}/deploys/${deployId}`);
    const canary = page.locator('section.stage[data-stage="canary"]');
    expect(await canary.locator('.verdict').textContent()).to.contain('regression').and.contain('errors<script> 0.005 → 0.05');
    expect(await canary.locator('svg.evidence-chart').count()).to.equal(2);
    const chart = canary.locator('tr.regressed svg.evidence-chart');
    expect(await chart.getAttribute('data-metric')).to.equal('errors<script>');
    expect(await chart.locator('polyline.after').getAttribute('stroke')).to.equal('#c62828');
    expect(await canary.locator('tr:not(.regressed) svg rect.after').getAttribute('fill')).to.equal('#2e7d32');
    expect(await page.locator('script:not([src])').count()).to.equal(0);
    expect(await page.textContent('body')).to.contain('the tree was closed by greengate-immune');
    expect(await page.locator('section.stage[data-stage="canary"] a[href^="/builds/"]').count()).to.equal(2);
  });

  it('prints the evidence numbers for people: p-values below 0.001 as "< 0.001", no exponent anywhere', async () => {
    await page.goto(`${server.url}/deploys/${deployId}`);
    const canary = page.locator('section.stage[data-stage="canary"]');
    const cells = async (metric: string) => (await canary.locator(`tr[data-metric="${metric}"] td`).allTextContents()).slice(2, 6);
    expect(await cells('errors<script>')).to.deep.equal(['0.005', '0.05', '×10', '< 0.001']);
    expect(await cells('latency_p50')).to.deep.equal(['20', '21', '×1.05', '0.4']);
    expect(await canary.locator('.verdict').textContent()).to.contain('p < 0.001');
    expect(await canary.locator('table.evidence').textContent()).to.not.match(/\de[-+]\d/);
  });

  it('/deploys lists it; an unknown deploy is a 404 page', async () => {
    await page.goto(`${server.url}/deploys`);
    expect(await page.locator(`table.deploys tr[data-deploy="${deployId}"] .deploy-state`).textContent()).to.equal('rolled back');
    const res = await page.goto(`${server.url}/deploys/999999`);
    expect(res?.status()).to.equal(404);
  });
});
