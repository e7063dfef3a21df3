import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_TOKEN, Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../helpers.js';
import { openBrowser, postForm } from './fixtures.js';

const ADA_TOKEN = 'ada-admin-token-0123456789';

describe('quarantine page: lists every quarantined test, admins lift them (real browser)', function () {
  this.timeout(60_000);
  const home = tempHome('gg-ui-quarantine-');
  const repo = new Repo(home.dir);
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [
      { name: 'unit', run: 'true', quarantine: ['cart from yml'] }, { name: 'lint', run: 'true' }] }],
    { admins: [{ name: 'ada', token: ADA_TOKEN }] });
    server = new ServerProcess(config);
    server.env = { GREENGATE_LOG_LEVEL: 'info' };
    await server.start();
    const add = (builder: string, body: object) => server.api(`/api/quarantine/shop/${builder}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADA_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await add('unit', { test: 'checkout pays twice', reason: 'races the clock, ticket 7' });
    await add('lint', { test: 'style long lines' });
    ({ browser, context, page } = await openBrowser());
  });

  after(async () => {
    await browser?.close();
    await server?.kill();
    home.cleanup();
  });

  const rows = () => page.locator('table.quarantine-list tbody tr');
  const cookie = async () => (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const unitList = async () => (await server.api('/api/quarantine/shop/unit')).tests.map((t: any) => t.test);

  it('shows a visitor every quarantined test per builder with who, when and why, linked from the nav and /tests, and no lift button', async () => {
    await page.goto(`${server.url}/tests`);
    await Promise.all([page.waitForURL(`${server.url}/quarantine`), page.click('main a[href="/quarantine"]')]);
    expect(await page.locator('header nav a.here').textContent()).to.equal('Quarantine');
    const text = await rows().allInnerTexts();
    expect(text).to.have.length(3);
    expect(text.find((t) => t.includes('checkout pays twice'))).to.match(/shop\/unit\s+ada\s+\d{4}-\d\d-\d\d [\d:]+Z\s+races the clock, ticket 7/);
    expect(text.find((t) => t.includes('cart from yml'))).to.contain('greengate.yml');
    expect(text.find((t) => t.includes('style long lines'))).to.contain('shop/lint');
    expect(await page.locator('form.quarantine-lift').count()).to.equal(0);
  });

  it('refuses a lift without an admin session or without its CSRF token (403) and changes nothing', async () => {
    const form = { repo: 'shop', builder: 'unit', test: 'checkout pays twice' };
    expect((await postForm(server.url, '/quarantine/lift', form)).status).to.equal(403);
    expect((await postForm(server.url, '/quarantine/lift', { ...form, _csrf: 'forged' })).status).to.equal(403);
    await page.goto(`${server.url}/login?next=/quarantine`);
    await page.fill('input[name=token]', ADA_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/quarantine`), page.click('form button')]);
    const csrf = (await page.getAttribute('form.quarantine-lift input[name=_csrf]', 'value'))!;
    expect((await postForm(server.url, '/quarantine/lift', form, await cookie())).status, 'session without CSRF').to.equal(403);
    expect((await postForm(server.url, '/quarantine/lift', { ...form, _csrf: csrf })).status, 'CSRF without session').to.equal(403);
    expect(await unitList()).to.deep.equal(['cart from yml', 'checkout pays twice']);
  });

  it('lets a logged-in admin lift an added test: it leaves the list and the log names the admin', async () => {
    await page.goto(`${server.url}/quarantine`);
    expect(await page.locator('form.quarantine-lift').count(), 'one per added test, none for greengate.yml').to.equal(2);
    const row = page.locator('tr', { hasText: 'checkout pays twice' });
    await Promise.all([page.waitForURL(`${server.url}/quarantine`), row.locator('form.quarantine-lift button').click()]);
    expect(await unitList()).to.deep.equal(['cart from yml']);
    expect(await rows().count()).to.equal(2);
    const line = await pollUntil(() => server.output.split('\n').find((l) => l.includes('released from quarantine')), 'the lift in the log', 5000);
    expect(line).to.contain('"by":"ada"').and.to.contain('checkout pays twice');
  });

  it('refuses to lift a test greengate.yml quarantines (409) and keeps it', async () => {
    const csrf = (await page.getAttribute('form.quarantine-lift input[name=_csrf]', 'value'))!;
    const res = await postForm(server.url, '/quarantine/lift', { repo: 'shop', builder: 'unit', test: 'cart from yml', _csrf: csrf }, await cookie());
    expect(res.status).to.equal(409);
    expect(await unitList()).to.deep.equal(['cart from yml']);
  });
});
