import { expect } from 'chai';
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { GgError } from '../../../server/errors.js';
import { errorHandler, notFound, toGgError } from '../../../server/web/errorHandler.js';
import { ServerProcess, startShopProcess, tempHome } from '../../helpers.js';

describe('the one error handler (in process)', () => {
  const logged: { level: number; msg: string; code?: string }[] = [];
  const pages: { status: number; message: string }[] = [];
  let http: Server;
  let url: string;

  before(async () => {
    const sink = new Writable({ write(chunk, _enc, done) { logged.push(JSON.parse(String(chunk))); done(); } });
    const log = pino({ level: 'info' }, sink);
    const web = express();
    web.get('/api/bug', () => { throw new TypeError('x is undefined at /srv/secret.ts'); });
    web.get('/api/refused', () => { throw new GgError('GG_NOT_GATED', 'shop/dev is not gated: add it to gate: in greengate.yml'); });
    web.post('/api/body', express.json({ limit: '64b' }), (_req, res) => { res.json({ ok: true }); });
    web.get('/page/bug', () => { throw new Error('page bug'); });
    web.use('/api', notFound());
    web.use(notFound());
    web.use(errorHandler({ log, renderErrorPage: (_req, res, status, message) => {
      pages.push({ status, message });
      res.status(status).type('html').send(`<h1>${status}</h1>`);
    } }));
    http = createServer(web);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => http.close(() => r())));
  beforeEach(() => { logged.length = 0; pages.length = 0; });

  const json = async (res: Response) => ({ status: res.status, type: res.headers.get('content-type'), body: await res.json() });

  it('answers a bug 500 GG_INTERNAL without its text, and logs it at error with the original error', async () => {
    const r = await json(await fetch(`${url}/api/bug`));
    expect(r.status).to.equal(500);
    expect(r.body.error.code).to.equal('GG_INTERNAL');
    expect(r.body.error.message).to.not.contain('secret');
    expect(logged.map((l) => [l.level, l.msg])).to.deep.equal([[50, 'request failed']]);
    expect(JSON.stringify(logged[0])).to.contain('x is undefined');
  });

  it('answers a refusal with the catalogue\'s status and logs it at info', async () => {
    const r = await json(await fetch(`${url}/api/refused`));
    expect(r).to.deep.include({ status: 404, body: { error: { code: 'GG_NOT_GATED', message: 'shop/dev is not gated: add it to gate: in greengate.yml' } } });
    expect(logged.map((l) => [l.level, l.code])).to.deep.equal([[30, 'GG_NOT_GATED']]);
  });

  it('names body-parser refusals by catalogue code: too large 413, bad JSON 400', async () => {
    const big = await json(await fetch(`${url}/api/body`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(200) }) }));
    expect([big.status, big.body.error.code]).to.deep.equal([413, 'GG_BODY_TOO_LARGE']);
    const bad = await json(await fetch(`${url}/api/body`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' }));
    expect([bad.status, bad.body.error.code]).to.deep.equal([400, 'GG_BAD_BODY']);
  });

  it('renders the error page for anything outside /api, and 404s unknown routes by kind', async () => {
    const page = await fetch(`${url}/page/bug`);
    expect([page.status, page.headers.get('content-type')]).to.deep.equal([500, 'text/html; charset=utf-8']);
    expect(pages).to.have.length(1);
    expect(pages[0].status).to.equal(500);
    const api = await json(await fetch(`${url}/api/no/such/route`, { method: 'DELETE' }));
    expect([api.status, api.body.error.code]).to.deep.equal([404, 'GG_NOT_FOUND']);
    expect(api.body.error.message).to.contain('DELETE /api/no/such/route');
    const other = await fetch(`${url}/no/such/page`);
    expect(other.status).to.equal(404);
    expect(pages[1]).to.deep.equal({ status: 404, message: 'no page GET /no/such/page: see the README\'s HTTP API and Pages sections' });
  });

  it('never reads a status off an error that is not catalogued', () => {
    const forged = Object.assign(new Error('forged'), { status: 204, code: 'GG_NOT_FOUND' });
    expect([toGgError(forged).status, toGgError(forged).code]).to.deep.equal([500, 'GG_INTERNAL']);
  });
});

describe('errors from a real server: JSON for /api, a page otherwise', function () {
  this.timeout(30_000);
  const home = tempHome('gg-errors-');
  let server: ServerProcess;
  const unknownRepo = 'unknown repository "nope": it is not in greengate.yml (configured: shop)';

  before(async () => { server = await startShopProcess(home.dir); });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  async function apiError(path: string, init?: RequestInit) {
    const res = await fetch(server.url + path, init);
    expect(res.headers.get('content-type'), path).to.match(/^application\/json/);
    return { status: res.status, ...(await res.json() as { error: { code: string; message: string } }).error };
  }

  it('answers an unknown /api route 404 GG_NOT_FOUND as JSON, not HTML', async () => {
    expect(await apiError('/api/nope')).to.deep.include({ status: 404, code: 'GG_NOT_FOUND' });
    expect(await apiError('/api/builds/1/nope', { method: 'POST' })).to.deep.include({ status: 404, code: 'GG_NOT_FOUND' });
    expect(await apiError('/api/builds/999')).to.deep.equal({ status: 404, code: 'GG_NOT_FOUND', message: 'no build 999' });
  });

  it('says GG_UNKNOWN_REPO with one message wherever a repository is named', async () => {
    const sha = 'a'.repeat(40);
    const answers = [
      await apiError('/api/tree/nope/main'),
      await apiError('/api/tree-history/nope'),
      await apiError('/api/tests?repo=nope&name=x'),
      await apiError('/api/quarantine/nope/unit'),
      await apiError('/api/changes', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repo: 'nope', updates: [{ old: sha, new: sha, ref: 'refs/heads/main' }] }) }),
      await apiError('/api/gate/nope', { method: 'POST', body: 'greengate-gate 1\nend\n' }),
    ];
    for (const a of answers) expect(a).to.deep.equal({ status: 404, code: 'GG_UNKNOWN_REPO', message: unknownRepo });
    const page = await fetch(`${server.url}/tests/history?repo=nope&builder=unit&name=x`);
    expect(page.status).to.equal(404);
    expect(await page.text()).to.contain(unknownRepo.replace(/"/g, '&quot;'));
  });

  it('refuses admin calls without credentials with 401 GG_ADMIN_TOKEN, and bad bodies by code', async () => {
    expect(await apiError('/api/builds/1/cancel', { method: 'POST' })).to.deep.include({ status: 401, code: 'GG_ADMIN_TOKEN' });
    expect(await apiError('/api/tree/shop/main', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"state":"closed"}' }))
      .to.deep.include({ status: 401, code: 'GG_ADMIN_TOKEN' });
    expect(await apiError('/api/changes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' }))
      .to.deep.include({ status: 400, code: 'GG_BAD_BODY' });
    expect(await apiError('/api/changes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(300_000) }) }))
      .to.deep.include({ status: 413, code: 'GG_BODY_TOO_LARGE' });
  });

  it('renders an HTML error page with the status for pages, and JSON for what the pages\' script fetches', async () => {
    for (const [path, status, text] of [['/builds/999', 404, 'no build 999'], ['/no/such/page', 404, 'no page GET /no/such/page'],
      ['/builds/abc', 400, 'build id']] as const) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(status);
      expect(res.headers.get('content-type'), path).to.match(/^text\/html/);
      expect(res.headers.get('content-security-policy'), path).to.contain("default-src 'self'");
      const html = await res.text();
      expect(html, path).to.contain(`<h1>${status}</h1>`).and.contain(text).and.contain('back to the waterfall');
    }
    expect(await apiError('/units/999/log')).to.deep.equal({ status: 404, code: 'GG_NOT_FOUND', message: 'no unit 999' });
  });
});
