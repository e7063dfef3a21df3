import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_TOKEN, Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';
import { openBrowser, postForm } from './fixtures.js';

const WAIT = 30_000;

describe('build page: admin cancel and rebuild buttons (real browser, server and runner)', function () {
  this.timeout(120_000);
  const home = tempHome('gg-ui-actions-');
  const repo = new Repo(home.dir);
  let server: ServerProcess;
  let runner: ChildProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let passed: any; // a finished build of main
  let slow: any; // a build whose unit runs until it is cancelled

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'sh ./run.sh', timeout: 120 }] }]);
    server = await new ServerProcess(config).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 1 });
    repo.commit({ 'run.sh': 'echo ok\n' }, 'Passes');
    repo.push();
    passed = await server.waitForBuild((await pollUntil(async () => (await server.builds())[0], 'the first build', WAIT)).id, WAIT);
    repo.commit({ 'run.sh': 'echo started; sleep 100\n' }, 'Runs until cancelled');
    repo.push('HEAD:refs/heads/slow');
    slow = await pollUntil(async () => (await server.builds()).find((b) => b.branch === 'slow' && b.state === 'running'), 'the slow build to run', WAIT);
    ({ browser, context, page } = await openBrowser());
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  });

  const post = (path: string, form: Record<string, string>, cookie = '') => postForm(server.url, path, form, cookie);
  async function cookie(): Promise<string> {
    return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  }

  it('shows a visitor no buttons and refuses their cancel and rebuild with 403, changing nothing', async () => {
    expect(passed.result).to.equal('passed');
    await page.goto(`${server.url}/builds/${slow.id}`);
    expect(await page.locator('.build-actions').count()).to.equal(0);
    const before = (await server.builds()).length;
    expect((await post(`/builds/${slow.id}/cancel`, {})).status).to.equal(403);
    expect((await post(`/builds/${passed.id}/rebuild`, {})).status).to.equal(403);
    expect((await post(`/builds/${slow.id}/cancel`, { _csrf: 'forged' })).status).to.equal(403);
    expect((await server.build(slow.id)).state).to.equal('running');
    expect((await server.builds()).length).to.equal(before);
    const badge = await fetch(`${server.url}/badge/shop/slow.svg`);
    expect(await badge.text(), 'a branch whose first build is under way').to.contain('>running</text>');
  });

  it('logs in and refuses the session without its CSRF token (403, nothing changes)', async () => {
    await page.goto(`${server.url}/login?next=/builds/${slow.id}`);
    await page.fill('input[name=token]', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/builds/${slow.id}`), page.click('form button')]);
    expect(await page.locator('.build-actions button').allTextContents()).to.deep.equal(['cancel build', 'rebuild']);
    const csrf = (await page.getAttribute('form.build-cancel input[name=_csrf]', 'value'))!;
    const before = (await server.builds()).length;
    expect((await post(`/builds/${slow.id}/cancel`, {}, await cookie())).status).to.equal(403);
    expect((await post(`/builds/${slow.id}/cancel`, { _csrf: 'forged' }, await cookie())).status).to.equal(403);
    expect((await post(`/builds/${slow.id}/cancel`, { _csrf: csrf })).status).to.equal(403); // the token without its session
    expect((await post(`/builds/${passed.id}/rebuild`, {}, await cookie())).status).to.equal(403);
    expect((await server.build(slow.id)).state).to.equal('running');
    expect((await server.builds()).length).to.equal(before);
  });

  it('cancels a running build from its page: the runner stops it and the button goes away', async () => {
    await Promise.all([page.waitForURL(`${server.url}/builds/${slow.id}`), page.click('form.build-cancel button')]);
    const done = await server.waitForBuild(slow.id, WAIT);
    expect(done.result).to.equal('cancelled');
    await page.reload();
    expect(await page.locator('form.build-cancel').count()).to.equal(0);
    expect(await page.locator('form.build-rebuild').count()).to.equal(1);
    const csrf = (await page.getAttribute('form.build-rebuild input[name=_csrf]', 'value'))!;
    const again = await post(`/builds/${slow.id}/cancel`, { _csrf: csrf }, await cookie());
    expect(again.status).to.equal(409);
    expect(await again.text()).to.contain('already finished');
    const badge = await (await fetch(`${server.url}/badge/shop/slow.svg`)).text();
    expect(badge, 'a cancelled build says nothing about the branch').to.contain('>unknown</text>');
  });

  it('rebuilds a finished build: a new build of the same commit and builder, and its page opens', async () => {
    await page.goto(`${server.url}/builds/${passed.id}`);
    await Promise.all([page.waitForURL((url) => /\/builds\/\d+$/.test(url.pathname) && url.pathname !== `/builds/${passed.id}`),
      page.click('form.build-rebuild button')]);
    const id = Number(new URL(page.url()).pathname.split('/').pop());
    expect(id).to.be.greaterThan(slow.id);
    const rebuilt = await server.waitForBuild(id, WAIT);
    expect([rebuilt.sha, rebuilt.builder, rebuilt.branch, rebuilt.result]).to.deep.equal([passed.sha, 'unit', 'main', 'passed']);
    expect(await page.textContent('.build-head h1')).to.contain(`build ${id}`);
  });
});
