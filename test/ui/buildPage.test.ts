import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_TOKEN, Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';
import { openBrowser, postForm } from './fixtures.js';

const WAIT = 20_000;
const CLOCK = /^\d\d:\d\d:\d\d\.\d{3}$/;

// Prints a few lines and writes a JUnit report: one pass, a new failure, and one that was failing before.
const RUN_SH = `echo "starting the suite"
i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i+1)); done
cat > junit.xml <<'XML'
<testsuites><testsuite name="cart">
  <testcase classname="cart" name="adds" file="test/cart.test.js" time="0.01"/>
  <testcase classname="cart" name="old break" file="test/cart.test.js" time="0.02"><failure message="broken for a week">old</failure></testcase>
  <testcase classname="cart" name="new break" file="test/cart.test.js" time="0.03"><failure message="broken by this push">new</failure></testcase>
</testsuite></testsuites>
XML
exit 1
`;

describe('build page: failures first, unit times, failing before, log times (real browser)', function () {
  this.timeout(90_000);
  const home = tempHome('gg-ui-build-');
  const repo = new Repo(home.dir);
  let server: ServerProcess;
  let runner: ChildProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let build: any;

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'sh ./run.sh', junit: 'junit.xml', timeout: 60 }] }]);
    server = await new ServerProcess(config).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 1 });
    // The first build already has "old break" failing (broken before greengate saw it); the second adds "new break".
    repo.commit({ 'run.sh': RUN_SH.replace(/  <testcase classname="cart" name="new break"[^\n]*\n/, '') }, 'A suite with a failure from before');
    repo.push();
    const first = await pollUntil(async () => (await server.builds())[0], 'the first build', WAIT);
    await server.waitForBuild(first.id, WAIT * 2);
    repo.commit({ 'run.sh': RUN_SH }, 'A suite with two failures');
    repo.push();
    const second = await pollUntil(async () => (await server.builds()).find((b) => b.id > first.id), 'the build', WAIT);
    build = await server.waitForBuild(second.id, WAIT * 2);
    ({ browser, context, page } = await openBrowser());
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  });

  const post = (path: string, form: Record<string, string>, cookie = '') => postForm(server.url, path, form, cookie);

  it('shows the failures above the units, new ones first, the old one labelled "failing before"', async () => {
    expect(build.result).to.equal('failed');
    expect(build.tests.filter((t: any) => t.name === 'old break').map((t: any) => [t.failingBefore, t.attempts])).to.deep.equal([[true, 2]]);
    await page.goto(`${server.url}/builds/${build.id}`);
    const order = await page.evaluate(() => {
      const failures = document.querySelector('section.failures')!;
      const units = document.querySelector('section.units')!;
      return {
        failuresFirst: !!(failures.compareDocumentPosition(units) & Node.DOCUMENT_POSITION_FOLLOWING),
        tests: [...failures.querySelectorAll('.failure')].map((f) => [f.getAttribute('data-test'), !!f.querySelector('.pill.failing-before')]),
      };
    });
    expect(order.failuresFirst).to.equal(true);
    // A test counts once per build (its last attempt), so each is listed once.
    expect(order.tests).to.deep.equal([['cart new break', false], ['cart old break', true]]);
    expect(await page.locator('.failure.failing-before .pill.failing-before').first().textContent()).to.equal('failing before');
    expect(await page.locator('form.quarantine').count(), 'no quarantine form for a visitor').to.equal(0);
  });

  it('shows each unit\'s queue wait, setup and run time', async () => {
    await page.goto(`${server.url}/builds/${build.id}`);
    expect(await page.locator('section.units thead th').allTextContents()).to.include.members(['queued', 'setup', 'run']);
    const row = page.locator('section.units tbody tr').first();
    for (const cell of ['td.queue', 'td.setup', 'td.run']) {
      expect(await row.locator(cell).textContent(), cell).to.match(/\d/);
    }
    const unit = build.units[0];
    expect(unit.assignedAt).to.be.at.least(unit.queuedAt);
    expect(unit.startedAt).to.be.at.least(unit.assignedAt);
  });

  it('refuses the quarantine form without an admin session or its CSRF token', async () => {
    const res = await post(`/builds/${build.id}/quarantine`, { test: 'cart old break' });
    expect(res.status).to.equal(403);
    expect(await res.text()).to.contain('log in as admin first');
    expect((await server.api('/api/quarantine/shop/unit')).tests).to.deep.equal([]);
  });

  it('lets an admin quarantine a test that was failing before from the build page', async () => {
    await page.goto(`${server.url}/login?next=/builds/${build.id}`);
    await page.fill('input[name=token]', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/builds/${build.id}`), page.click('form button')]);
    expect(await page.locator('form.quarantine').count(), 'only the failing-before test gets one').to.equal(1);
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    expect((await post(`/builds/${build.id}/quarantine`, { test: 'cart old break' }, cookie)).status, 'without CSRF').to.equal(403);

    await page.locator('form.quarantine input[name=reason]').first().fill('broken since last week, ticket 12');
    await Promise.all([page.waitForURL(`${server.url}/builds/${build.id}#failures`), page.locator('form.quarantine button').first().click()]);
    const list = await server.api('/api/quarantine/shop/unit');
    expect(list.tests.map((t: any) => [t.test, t.reason, t.source])).to.deep.equal([['cart old break', 'broken since last week, ticket 12', 'api']]);
    const csrf = await pollUntil(() => page.locator('form.quarantine input[name=_csrf]').first().getAttribute('value'), 'the form');
    const unknown = await post(`/builds/${build.id}/quarantine`, { test: 'cart never ran', _csrf: csrf }, cookie);
    expect(unknown.status).to.equal(404);
    expect(await unknown.text()).to.contain('has no test &quot;cart never ran&quot;');
  });

  it('shows log line times on demand without reloading, and remembers the choice', async () => {
    const fresh = await browser.newPage();
    try {
      await fresh.goto(`${server.url}/builds/${build.id}`);
      await fresh.evaluate(() => { (window as any).notReloaded = true; });
      const stamps = fresh.locator(`#unit-${build.units[0].id} pre.log .ln .t`);
      await stamps.first().waitFor({ state: 'attached', timeout: WAIT });
      expect(await stamps.count()).to.be.at.least(42); // "$ sh ./run.sh", "starting the suite", 40 lines
      expect(await stamps.first().isVisible()).to.equal(false);
      await fresh.check(`#unit-${build.units[0].id} .times input`);
      await stamps.first().waitFor({ state: 'visible', timeout: WAIT });
      expect(await stamps.nth(1).getAttribute('data-t')).to.match(CLOCK);
      const shownTime = await stamps.nth(1).evaluate((el) => getComputedStyle(el, '::before').content);
      expect(shownTime).to.match(/^"\d\d:\d\d:\d\d\.\d{3}"$/);
      // The time is drawn, not part of the line's text: copying a log copies the log.
      expect(await fresh.locator(`#unit-${build.units[0].id} pre.log .ln`).nth(1).textContent()).to.equal('starting the suite');
      expect(await fresh.evaluate(() => (window as any).notReloaded)).to.equal(true);
      await fresh.reload();
      await stamps.first().waitFor({ state: 'visible', timeout: WAIT });
      await fresh.uncheck(`#unit-${build.units[0].id} .times input`);
      await stamps.first().waitFor({ state: 'hidden', timeout: WAIT });
    } finally {
      await fresh.close();
    }
  });

  it('puts the times in front of the plain log lines without JavaScript (?times=1)', async () => {
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    try {
      const plain = await noJs.newPage();
      await plain.goto(`${server.url}/builds/${build.id}`);
      expect(await plain.locator('noscript').first().innerHTML()).to.contain('show times');
      expect(await plain.textContent('pre.log')).to.match(/^\$ sh \.\/run\.sh/);
      await plain.goto(`${server.url}/builds/${build.id}?times=1`);
      const lines = (await plain.textContent('pre.log'))!.split('\n').filter(Boolean);
      expect(lines[1]).to.match(/^\d\d:\d\d:\d\d\.\d{3} starting the suite$/);
      expect(lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3} /.test(l)), 'every line has its time').to.equal(true);
    } finally {
      await noJs.close();
    }
  });
});
