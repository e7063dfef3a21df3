import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_TOKEN, Repo, ServerProcess, tempHome, writeConfig } from '../helpers.js';
import { openBrowser, postForm } from './fixtures.js';

const WAIT = 15_000;

describe('tree page: admin log in, CSRF, close/open, Five Whys (real browser)', function () {
  this.timeout(60_000);
  const home = tempHome('gg-ui-admin-');
  const repo = new Repo(home.dir);
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    server = await new ServerProcess(config).start();
    ({ browser, context, page } = await openBrowser());
  });

  after(async () => {
    await browser?.close();
    await server?.kill();
    home.cleanup();
  });

  const post = (path: string, form: Record<string, string>, cookie = '') => postForm(server.url, path, form, cookie);

  it('shows no forms to a visitor and refuses their POSTs with 403', async () => {
    await page.goto(`${server.url}/tree`);
    expect(await page.locator('form.tree-form').count()).to.equal(0);
    expect(await page.getAttribute('.banner', 'data-state')).to.equal('open');
    expect(await page.textContent('body')).to.contain('Log in as admin');
    const res = await post('/tree/state', { repo: 'shop', branch: 'main', state: 'closed', message: 'x' });
    expect(res.status).to.equal(403);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');
    expect((await post('/tree/whys/1', { why1: 'x' })).status).to.equal(403);
    expect((await post('/logout', {})).status).to.equal(403);
  });

  it('refuses a wrong token and logs in with the right one: HttpOnly, SameSite=Strict cookie', async () => {
    await page.goto(`${server.url}/login?next=/tree`);
    await page.fill('input[name=token]', 'not-the-token');
    const [wrong] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login')), page.click('form button')]);
    expect(wrong.status()).to.equal(403);
    expect(await page.textContent('.error-box')).to.contain('not the admin token');

    await page.fill('input[name=token]', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/tree`), page.click('form button')]);
    expect(await page.locator('form.tree-form').count()).to.equal(1);
    const cookie = (await context.cookies()).find((c) => c.name === 'gg_admin')!;
    expect(cookie.httpOnly).to.equal(true);
    expect(cookie.sameSite).to.equal('Strict');
    expect(await page.evaluate(() => document.cookie)).to.not.contain('gg_admin');
  });

  it('refuses a POST with the session but without its CSRF token', async () => {
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const csrf = await page.getAttribute('form.tree-form input[name=_csrf]', 'value');
    expect((await post('/tree/state', { repo: 'shop', branch: 'main', state: 'closed', message: 'x' }, cookie)).status).to.equal(403);
    expect((await post('/tree/state', { repo: 'shop', branch: 'main', state: 'closed', message: 'x', _csrf: 'forged' }, cookie)).status).to.equal(403);
    expect((await post('/tree/state', { repo: 'shop', branch: 'main', state: 'closed', message: 'x', _csrf: csrf! })).status).to.equal(403);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');
  });

  it('closes the tree with a message, records the Five Whys, then opens it again', async () => {
    const watcher = await browser.newPage(); // its own context: a second tab in this one would be a throttled background tab
    await watcher.goto(`${server.url}/`);
    await watcher.waitForSelector('#live-status.on', { timeout: WAIT });

    await page.fill('form.tree-form input[name=message]', 'deploy freeze <script>window.__xss=1</script>');
    await page.fill('form.tree-form input[name=actor]', 'sheriff-sam');
    await page.click('form.tree-form button[value=closed]');
    await page.waitForSelector('.banner[data-state="closed"]', { timeout: WAIT });
    expect(await page.textContent('.banner')).to.contain('deploy freeze <script>window.__xss=1</script>').and.contain('sheriff-sam');
    expect((await server.api('/api/tree/shop/main')).state).to.equal('closed');
    await watcher.waitForSelector('.banner.closed', { timeout: WAIT }); // the open waterfall flips live

    const closure = page.locator('tr.ev.closure').first();
    expect(await closure.textContent()).to.contain('still closed');
    await closure.locator('details summary').click();
    await closure.locator('input[name=why1]').fill('The deploy script ran twice');
    await closure.locator('input[name=why2]').fill('Its lock file is written after the check');
    await closure.locator('input[name=why3]').fill('"><img src=x onerror=window.__xss=2>');
    await closure.locator('input[name=author]').fill('sam');
    await closure.locator('.whys-form button').click();
    await page.waitForSelector('tr.ev.closure .whys ol li', { timeout: WAIT });
    const whys = await page.locator('tr.ev.closure .whys ol li').allTextContents();
    expect(whys).to.deep.equal(['The deploy script ran twice', 'Its lock file is written after the check', '"><img src=x onerror=window.__xss=2>']);
    expect(await page.locator('img').count()).to.equal(0);

    await page.click('form.tree-form button[value=open]');
    await page.waitForSelector('.banner[data-state="open"]', { timeout: WAIT });
    expect(await page.locator('tr.ev.closure').first().textContent()).to.not.contain('still closed');
    await watcher.waitForSelector('.banner.open', { timeout: WAIT });
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).to.equal(undefined);
    await watcher.close();
  });

  it('shows the tree\'s refusal (closing needs a message) and logs out', async () => {
    const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/tree/state')), page.click('form.tree-form button[value=closed]')]);
    expect(res.status()).to.equal(400);
    expect(await page.textContent('.error-box')).to.contain('needs a message');
    await Promise.all([page.waitForURL(`${server.url}/`), page.click('header form button')]);
    await page.goto(`${server.url}/tree`);
    expect(await page.locator('form.tree-form').count()).to.equal(0);
  });
});
