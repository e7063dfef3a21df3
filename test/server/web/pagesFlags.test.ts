import { expect } from 'chai';
import { Repo, ServerProcess, tempHome, writeConfig } from '../../helpers.js';
import { postForm } from '../../ui/fixtures.js';

const FLAGS_TOKEN = 'shop-flags-token-0123456789';
const ADA_TOKEN = 'ada-admin-token-0123456789';
const FLAGS = JSON.stringify({
  flags: {
    'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off',
      targeting: { if: [{ $ref: 'qa' }, 'on', { $ref: 'new-app' }, 'on', 'off'] } },
  },
  $evaluators: { qa: { ends_with: [{ var: 'email' }, '@qa.example.com'] }, 'new-app': { sem_ver: [{ var: 'appVersion' }, '>=', '2.0.0'] } },
});

/** The flag pages on a real server: the list, a flag's page explaining a context, the kill and restore buttons. */
describe('flag pages (a real server)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-flagpages-');
  let server: ServerProcess;
  before(async () => {
    const repo = new Repo(home.dir);
    repo.commit({ 'flags.json': FLAGS }, 'flags');
    repo.push(); // no hooks: lands as it is, read at start-up
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: FLAGS_TOKEN } } as Parameters<typeof writeConfig>[1][number]],
    { admins: [{ name: 'ada', token: ADA_TOKEN }] })).start();
  });
  after(async () => { await server.kill(); home.cleanup(); });

  const page = async (path: string, cookie = '') => { const res = await fetch(server.url + path, { headers: cookie ? { cookie } : {} }); return { status: res.status, html: await res.text() }; };
  const evaluate = async () => (await (await fetch(`${server.url}/ofrep/v1/evaluate/flags/new-cart`, { method: 'POST',
    headers: { authorization: `Bearer ${FLAGS_TOKEN}`, 'content-type': 'application/json' }, body: '{"context":{"email":"eve@qa.example.com"}}' })).json()) as { reason: string };

  it('lists the flags served and explains, for a context typed in, which rule matched and why', async () => {
    const list = await page('/flags/shop');
    expect(list.status).to.equal(200);
    expect(list.html).to.contain('href="/flags/shop/new-cart"').and.contain('on, off');
    expect(list.html).not.to.contain(FLAGS_TOKEN);
    const qa = await page(`/flags/shop/new-cart?targetingKey=u1&attributes=${encodeURIComponent('{"email": "eve@qa.example.com"}')}`);
    expect(qa.html).to.contain('branch 1 matched (group qa)');
    const app = await page(`/flags/shop/new-cart?attributes=${encodeURIComponent('{"email": "x@example.com", "appVersion": "2.4.0"}')}`);
    expect(app.html).to.contain('branch 2 matched (group new-app)');
    const none = await page(`/flags/shop/new-cart?attributes=${encodeURIComponent('{"appVersion": "1.0.0"}')}`);
    expect(none.html).to.contain('no condition held: the last (else) value &quot;off&quot;');
    const bad = await page(`/flags/shop/new-cart?attributes=${encodeURIComponent('{email')}`);
    expect(bad.status).to.equal(400);
    expect(bad.html).to.contain('The attributes are not JSON');
    expect((await page('/flags/shop/nope')).status).to.equal(404);
  });

  it('kills and restores from the page only with an admin session and its CSRF token, recorded with the admin\'s name', async () => {
    expect((await postForm(server.url, '/flags/shop/new-cart/kill', { message: 'x' })).status).to.equal(403);
    const login = await postForm(server.url, '/login', { token: ADA_TOKEN, next: '/flags/shop/new-cart' });
    expect(login.status).to.equal(303);
    const cookie = /^(gg_admin=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1];
    expect((await postForm(server.url, '/flags/shop/new-cart/kill', { message: 'x' }, cookie)).status).to.equal(403); // no CSRF token
    expect((await evaluate()).reason).to.equal('TARGETING_MATCH');
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await page('/flags/shop/new-cart', cookie)).html)![1];
    expect((await postForm(server.url, '/flags/shop/new-cart/kill', { message: 'cart errors', _csrf: csrf }, cookie)).status).to.equal(303);
    expect((await evaluate()).reason).to.equal('DISABLED');
    const flagPage = (await page('/flags/shop/new-cart', cookie)).html;
    expect(flagPage).to.contain('Killed by ada: “cart errors”').and.contain('restore new-cart');
    expect((await page('/')).html).to.contain('flag shop/new-cart KILLED</a> by ada');
    expect((await postForm(server.url, '/flags/shop/new-cart/restore', { _csrf: csrf }, cookie)).status).to.equal(303);
    expect((await evaluate()).reason).to.equal('TARGETING_MATCH');
    expect((await page('/')).html).not.to.contain('KILLED');
  });
  it('keeps a Five Whys record per kill: everyone reads it, only an admin with the CSRF token writes it', async () => {
    expect((await postForm(server.url, '/flags/shop/new-cart/whys/1', { why1: 'x' })).status).to.equal(403); // no credentials
    const login = await postForm(server.url, '/login', { token: ADA_TOKEN, next: '/flags/shop/new-cart' });
    const cookie = /^(gg_admin=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1];
    expect((await postForm(server.url, '/flags/shop/new-cart/whys/1', { why1: 'x' }, cookie)).status).to.equal(403); // no CSRF token
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await page('/flags/shop/new-cart', cookie)).html)![1];
    expect((await postForm(server.url, '/flags/shop/new-cart/kill', { message: 'error rate doubled', _csrf: csrf }, cookie)).status).to.equal(303);
    const before = (await page('/flags/shop/new-cart', cookie)).html;
    const killId = /<tr id="kill-(\d+)" class="kill">/.exec(before)![1];
    expect(before).to.contain('open: nobody has written why yet').and.contain(`action="/flags/shop/new-cart/whys/${killId}"`);
    expect((await postForm(server.url, `/flags/shop/new-cart/whys/${killId}`, { why1: '', _csrf: csrf }, cookie)).status).to.equal(400);
    const saved = await postForm(server.url, `/flags/shop/new-cart/whys/${killId}`,
      { why1: 'The new cart retried payments', why2: '<script>window.__x=1</script>', _csrf: csrf }, cookie);
    expect(saved.status).to.equal(303);
    const anonymous = await page('/flags/shop/new-cart');
    expect(anonymous.html).to.contain('<li value="1">The new cart retried payments</li>').and.contain('&lt;script&gt;window.__x=1&lt;/script&gt;');
    expect(anonymous.html).to.contain('— ada').and.not.contain('whys-form');
    const restoreId = Number(killId) + 1;
    expect((await postForm(server.url, '/flags/shop/new-cart/restore', { _csrf: csrf }, cookie)).status).to.equal(303);
    expect((await postForm(server.url, `/flags/shop/new-cart/whys/${restoreId}`, { why1: 'x', _csrf: csrf }, cookie)).status).to.equal(404); // a restore has none
    expect((await postForm(server.url, `/flags/shop/other/whys/${killId}`, { why1: 'x', _csrf: csrf }, cookie)).status).to.equal(404); // another flag's kill
  });
});
