import { expect } from 'chai';
import express from 'express';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { checkFlagsFile } from '../../../server/flags/definitions.js';
import { FlagSet } from '../../../server/flags/evaluator.js';
import { OFREP_PATH, ofrepRouter } from '../../../server/web/ofrepApi.js';
import { OfrepAnswers, type OfrepDeps } from '../../../server/web/ofrepAnswers.js';
import { ofrepFastPath } from '../../../server/web/ofrepFastPath.js';

const TOKEN = 'shop-flags-token-0123456789';
const OTHER = 'blog-flags-token-0123456789';
const FLAGS = JSON.stringify({
  flags: {
    'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@qa.example.com'] }, 'on', 'off'] } },
    banner: { state: 'ENABLED', variants: { a: 'Hello', b: 'Welcome' }, defaultVariant: 'b' },
  },
});

interface Got { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One request over a fresh connection; `chunks` sends the body chunked (no Content-Length). */
function send(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: string[] } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'POST', headers: opts.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', reject);
    if (opts.chunks) for (const c of opts.chunks) req.write(c);
    req.end(opts.body);
  });
}

describe('OFREP fast path (web/ofrepFastPath.ts)', () => {
  let server: Server;
  let port: number;
  let expressCalls: string[];
  const exposures: string[] = [];
  const killed = new Set<string>();

  before(async () => {
    const checked = checkFlagsFile(FLAGS, 'flags.json');
    if (!checked.ok) throw new Error(checked.problems.join('; '));
    const set = new FlagSet(checked.set, 'abc');
    const deps: OfrepDeps = {
      config: { repositories: [
        { name: 'shop', flags: { file: 'flags.json', token: TOKEN, ratePerSecond: 1000 } },
        { name: 'blog', flags: { file: 'flags.json', token: OTHER, ratePerSecond: 1 } },
      ] } as unknown as OfrepDeps['config'],
      library: { of: () => ({ set, sha: 'abc', problem: null, loadedAt: 0 }) },
      kills: { lookup: () => (key: string) => (killed.has(key) ? { actor: 'admin', message: null, at: 0 } : null) },
      experiments: { expose: (repo, key, variant, user) => void exposures.push(`${repo}/${key}/${variant}/${user}`), record: () => ({ accepted: 0, duplicates: 0 }) },
    };
    const answers = new OfrepAnswers(deps);
    const app = express();
    app.disable('x-powered-by'); // as server/main.ts
    app.use((req, _res, next) => { expressCalls.push(`${req.method} ${req.url}`); next(); });
    app.use(OFREP_PATH, ofrepRouter(deps, answers));
    server = createServer(ofrepFastPath(answers, app));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => { expressCalls = []; exposures.length = 0; killed.clear(); });

  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ context: { targetingKey: 'user-1', email: 'a@qa.example.com' } });

  it('answers a right token\'s single evaluation without Express, as OFREP: 200 JSON, the exposure counted', async () => {
    const r = await send(port, '/ofrep/v1/evaluate/flags/new-cart', { headers: auth, body });
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(JSON.parse(r.body)).to.deep.include({ key: 'new-cart', value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    expect(exposures).to.deep.equal(['shop/new-cart/on/user-1']);
    expect(expressCalls).to.deep.equal([]);
  });

  it('answers the bulk with its ETag and a 304 for it without Express; X-API-Key is a token too', async () => {
    const first = await send(port, '/ofrep/v1/evaluate/flags?x=1', { headers: { 'x-api-key': TOKEN }, body });
    expect(first.status).to.equal(200);
    expect(JSON.parse(first.body).flags.map((f: { key: string }) => f.key)).to.deep.equal(['banner', 'new-cart']);
    const again = await send(port, '/ofrep/v1/evaluate/flags', { headers: { 'x-api-key': TOKEN, 'if-none-match': String(first.headers.etag) }, body });
    expect(again.status).to.equal(304);
    expect(again.headers.etag).to.equal(first.headers.etag);
    expect(again.body).to.equal('');
    expect(expressCalls).to.deep.equal([]);
  });

  it('answers exactly as the Express route does (a chunked body goes there): errors, kills, bulk', async () => {
    const cases: [string, string][] = [
      ['/ofrep/v1/evaluate/flags/new-cart', body],
      ['/ofrep/v1/evaluate/flags/nope', body],
      ['/ofrep/v1/evaluate/flags/new-cart', '{not json'],
      ['/ofrep/v1/evaluate/flags/new-cart', '{"context": {"targetingKey": 5}}'],
      ['/ofrep/v1/evaluate/flags/n%65w-cart', ''],
      ['/ofrep/v1/evaluate/flags', '[]'],
      ['/ofrep/v1/evaluate/flags', body],
    ];
    killed.add('banner');
    for (const [path, text] of cases) {
      const fast = await send(port, path, { headers: auth, body: text });
      const slow = await send(port, path, { headers: auth, chunks: [text] });
      const strip = (g: Got) => ({ ...g, headers: { ...g.headers, date: undefined, 'transfer-encoding': undefined, 'content-length': undefined } });
      expect(strip(fast), `${path} ${text}`).to.deep.equal(strip(slow));
    }
    expect(expressCalls).to.have.length(cases.length); // only the chunked ones
  });

  it('hands to Express whatever it does not take: no token (401), a wrong one (403), GET, events, other encodings', async () => {
    expect((await send(port, '/ofrep/v1/evaluate/flags/new-cart', { body })).status).to.equal(401);
    expect((await send(port, '/ofrep/v1/evaluate/flags', { headers: { authorization: 'Bearer not-a-token-of-anyone' }, body })).status).to.equal(403);
    expect((await send(port, '/ofrep/v1/evaluate/flags/new-cart', { method: 'GET', headers: auth })).status).to.equal(404);
    expect((await send(port, '/ofrep/v1/events', { headers: auth, body: '{"events": []}' })).status).to.not.equal(0);
    const gz = await send(port, '/ofrep/v1/evaluate/flags/new-cart', { headers: { ...auth, 'content-encoding': 'gzip' }, body: gzipSync(body) });
    expect(gz.status).to.equal(200);
    expect(JSON.parse(gz.body).variant).to.equal('on');
    expect(expressCalls).to.deep.equal(['POST /ofrep/v1/evaluate/flags/new-cart', 'POST /ofrep/v1/evaluate/flags', 'GET /ofrep/v1/evaluate/flags/new-cart',
      'POST /ofrep/v1/events', 'POST /ofrep/v1/evaluate/flags/new-cart']);
    expect(exposures).to.deep.equal(['shop/new-cart/on/user-1']); // the gzip one only
  });

  it('takes the repository\'s rate before reading the body, one bucket for both ways: 429 with Retry-After', async () => {
    const blog = { authorization: `Bearer ${OTHER}` };
    expect((await send(port, '/ofrep/v1/evaluate/flags/banner', { headers: blog, body })).status).to.equal(200); // a burst of 2
    expect((await send(port, '/ofrep/v1/evaluate/flags/banner', { headers: blog, chunks: [body] })).status).to.equal(200);
    const over = await send(port, '/ofrep/v1/evaluate/flags/banner', { headers: blog, body });
    expect(over.status).to.equal(429);
    expect(Number(over.headers['retry-after'])).to.be.at.least(1);
    expect(JSON.parse(over.body).errorDetails).to.match(/over 1 evaluations per second/);
  });
});
