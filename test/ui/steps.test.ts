import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';
import { openBrowser } from './fixtures.js';

const WAIT = 20_000;
/** build passes, test fails (after its gate file), package is skipped. */
const CI = { name: 'ci', steps: [
  { name: 'build', run: 'echo compiling' },
  { name: 'test', run: 'test -f ./gate && echo "tests failed" && exit 1' },
  { name: 'package', run: 'echo packing' },
] } as unknown as BuilderSpec;

describe('steps on the pages: the waterfall cell lists the steps, the build page groups units by step (real browser)', function () {
  this.timeout(90_000);
  const home = tempHome('gg-ui-steps-');
  const repo = new Repo(home.dir);
  let server: ServerProcess;
  let runner: ChildProcess;
  let browser: Browser;
  let page: Page;

  before(async () => {
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [CI] }])).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 1 });
    ({ browser, page } = await openBrowser());
  });
  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  });

  it('updates a build\'s cell live with each step\'s state and time, then shows the steps with their units on the build page', async () => {
    await page.goto(`${server.url}/`);
    repo.commit({ gate: 'x' }, 'A failing test step');
    repo.push();
    const build = await pollUntil(async () => (await server.builds())[0], 'the build', WAIT);
    await server.waitForBuild(build.id, WAIT * 2);
    const cell = page.locator(`td.cell[data-build="${build.id}"]`);
    await pollUntil(async () => ((await cell.locator('li.step.skipped').count()) === 1 ? true : null), 'the live cell to show the skipped step', WAIT);
    const items = await cell.locator('li.step').evaluateAll((lis) => lis.map((li) => [li.className, li.querySelector('.name')!.textContent,
      li.querySelector('small')!.textContent]));
    expect(items.map(([cls, name]) => [cls, name])).to.deep.equal([['step passed', 'build'], ['step failed', 'test'], ['step skipped', 'package']]);
    expect(items[0][2]).to.match(/^passed \d+\.\ds$/);

    await page.goto(`${server.url}/builds/${build.id}`);
    const rows = await page.locator('section.units tbody tr').evaluateAll((trs) => trs.map((tr) =>
      tr.classList.contains('step-row') ? `step ${tr.getAttribute('data-step')}: ${tr.querySelector('.pill')!.textContent}` : 'unit'));
    expect(rows).to.deep.equal(['step build: passed', 'unit', 'step test: failed', 'unit', 'unit', 'step package: skipped']);
    expect(await page.locator('section.logs summary', { hasText: 'step test' }).count(), 'the log viewers name their step').to.be.at.least(1);
  });
});
