import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OpenFeature, type Client } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as WebOpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { installHooks } from '../../server/gate/hookInstall.js';
import { ADMIN_TOKEN, CLI, NODE_FLAGS, RUNNER_TOKEN, Repo, ServerProcess, git, pollUntil, seededRandom, tempHome, writeConfig } from '../helpers.js';

const FLAGS_TOKEN = 'shop-flags-token-0123456789';
const ADA_TOKEN = 'ada-admin-token-0123456789';
const TINY_TOKEN = 'tiny-flags-token-0123456789';
const run = promisify(execFile);

/** A flags file: groups in $evaluators (a list, an e-mail domain, an app version), a fractional split. */
function flagsFile(cartDefault = 'off', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    flags: {
      'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: cartDefault,
        targeting: { if: [{ $ref: 'qa' }, 'on', { fractional: [['on', 30], ['off', 70]] }] } },
      'checkout-color': { state: 'ENABLED', variants: { red: 'red', blue: 'blue', green: 'green' }, defaultVariant: 'red',
        targeting: { if: [{ sem_ver: [{ var: 'appVersion' }, '>=', '2.0.0'] }, 'green', { in: [{ var: 'country' }, ['de', 'fr']] }, 'blue', null] } },
      'max-items': { state: 'ENABLED', variants: { small: 10, big: 50 }, defaultVariant: 'small',
        targeting: { fractional: [{ var: 'targetingKey' }, ['small', 50], ['big', 50]] } },
      ...extra,
    },
    $evaluators: { qa: { or: [{ ends_with: [{ var: 'email' }, '@qa.example.com'] }, { in: [{ var: 'targetingKey' }, ['ada', 'bob']] }] } },
  }, null, 2);
}

/** Feature flags end to end: pushes through the installed hooks, OFREP through the stock providers, the kill switch. */
describe('feature flags (flags as code, OFREP, kill switch)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let tokenFile: string;

  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    const tiny = new Repo(home.dir, 'tiny');
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: FLAGS_TOKEN } } as Parameters<typeof writeConfig>[1][number],
    { name: 'tiny', path: tiny.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: TINY_TOKEN, ratePerSecond: 2 } } as Parameters<typeof writeConfig>[1][number]],
    { admins: [{ name: 'ada', token: ADA_TOKEN }] });
    server = await new ServerProcess(config).start();
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    tokenFile = join(home.dir, 'ada.token');
    writeFileSync(tokenFile, `${ADA_TOKEN}\n`, { mode: 0o600 });
  });
  after(async () => {
    await OpenFeature.close();
    await WebOpenFeature.close();
    await server.kill();
    home.cleanup();
  });

  const ofrep = (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${FLAGS_TOKEN}` }) =>
    fetch(`${server.url}/ofrep/v1/evaluate/flags${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body) });
  const evaluate = async (key: string, context: Record<string, unknown> = {}) => (await ofrep(`/${key}`, { context })).json() as Promise<any>;
  const client = async (domain: string): Promise<Client> => {
    await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl: server.url, headers: [['Authorization', `Bearer ${FLAGS_TOKEN}`]] }));
    return OpenFeature.getClient(domain);
  };

  it('refuses a push whose flags.json is invalid, naming the file and the problem', () => {
    repo.commit({ 'flags.json': '{ "flags": {} }' }, 'no flags yet');
    const first = repo.push();
    expect(first.ok, first.output).to.equal(true);
    const bad: [string, RegExp][] = [
      [flagsFile('maybe'), /flags\.json: flag "new-cart" has defaultVariant "maybe", which is not one of its variants/],
      [flagsFile('off', { broken: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'a', targeting: { if: [{ $ref: 'admins' }, 'a'] } } }),
        /flags\.json: flag "broken" uses \{"\$ref": "admins"\} but "\$evaluators" has no "admins"/],
      [flagsFile('off', { broken: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'a', targeting: { no_such_operator: [1, 2] } } }),
        /flags\.json: \/flags\/broken\/targeting must NOT have additional properties \("no_such_operator"\)/],
      ['{ "flags": ', /flags\.json is not JSON/],
    ];
    for (const [text, problem] of bad) {
      repo.commit({ 'flags.json': text }, 'flags');
      const push = repo.push();
      expect(push.ok, push.output).to.equal(false);
      expect(push.output).to.contain('REFUSED main: flags.json at');
      expect(push.output).to.match(problem);
      git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
    }
  });

  it('serves a valid pushed flags file within 1 s of the push landing', async () => {
    repo.commit({ 'flags.json': flagsFile() }, 'flags: new cart for QA');
    const push = repo.push();
    expect(push.ok, push.output).to.equal(true);
    const served = await pollUntil(async () => { const e = await evaluate('new-cart', { email: 'eve@qa.example.com' }); return e.value === true ? e : null; },
      'the pushed flags to be served', 1_000);
    expect(served).to.deep.include({ key: 'new-cart', value: true, variant: 'on', reason: 'TARGETING_MATCH' });
  });

  it('serves a pushed change within 1 s', async () => {
    repo.commit({ 'flags.json': flagsFile('off', { 'banner-text': { state: 'ENABLED', variants: { a: 'Hello', b: 'Welcome' }, defaultVariant: 'b' } }) }, 'flags: banner');
    expect(repo.push().ok).to.equal(true);
    const e = await pollUntil(async () => { const x = await evaluate('banner-text'); return x.value ? x : null; }, 'the change to be served', 1_000);
    expect(e).to.deep.include({ value: 'Welcome', variant: 'b', reason: 'STATIC' });
  });

  it('refuses evaluations without the flags token (401) or with another one (403); X-API-Key is a token too', async () => {
    for (const path of ['/new-cart', '']) {
      const none = await ofrep(path, { context: {} }, {});
      expect(none.status).to.equal(401);
      expect(none.headers.get('content-type')).to.match(/application\/json/);
      expect((await ofrep(path, { context: {} }, { authorization: `Bearer ${RUNNER_TOKEN}` })).status).to.equal(403);
      expect((await ofrep(path, { context: {} }, { authorization: `Bearer ${ADMIN_TOKEN}` })).status).to.equal(403);
      expect((await ofrep(path, { context: {} }, { 'x-api-key': FLAGS_TOKEN })).status).to.equal(200);
    }
  });

  it('scopes a token to its own repository, and rate-limits each repository: 429 with Retry-After, honoured by the stock provider', async () => {
    const tiny = { authorization: `Bearer ${TINY_TOKEN}` };
    const first = await ofrep('/new-cart', { context: {} }, tiny); // shop's flag, tiny's token: not found in tiny
    expect(first.status).to.equal(404);
    expect(await first.json()).to.include({ key: 'new-cart', errorCode: 'FLAG_NOT_FOUND' });
    const statuses: number[] = [];
    let limited: Response | null = null;
    for (let i = 0; i < 6 && !limited; i++) {
      const res = await ofrep('', { context: {} }, tiny);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(limited, statuses.join(' ')).not.to.equal(null); // a burst of 4 (twice ratePerSecond: 2), one already spent
    expect(Number(limited!.headers.get('retry-after'))).to.be.within(1, 2);
    expect((await ofrep('/new-cart', { context: {} })).status).to.equal(200); // shop's own bucket is untouched
    await OpenFeature.setProviderAndWait('tiny', new OFREPProvider({ baseUrl: server.url, headers: [['Authorization', `Bearer ${TINY_TOKEN}`]] }));
    const details = await OpenFeature.getClient('tiny').getBooleanDetails('new-cart', true, { targetingKey: 'u1' });
    expect(details).to.include({ value: true, reason: 'ERROR', errorCode: 'GENERAL' }); // the 429, not tiny's FLAG_NOT_FOUND
    expect(details.errorMessage).to.match(/rate limit/i);
  });

  it('answers OFREP errors the stock provider understands: 404 FLAG_NOT_FOUND, 400 PARSE_ERROR and INVALID_CONTEXT, each with key and errorCode', async () => {
    const missing = await ofrep('/nope', { context: {} });
    expect(missing.status).to.equal(404);
    expect(await missing.json()).to.deep.include({ key: 'nope', errorCode: 'FLAG_NOT_FOUND' });
    const parse = await ofrep('/new-cart', '{"context": ');
    expect(parse.status).to.equal(400);
    expect(await parse.json()).to.include({ key: 'new-cart', errorCode: 'PARSE_ERROR' });
    const context = await ofrep('/new-cart', { context: { targetingKey: 42 } });
    expect(context.status).to.equal(400);
    expect(await context.json()).to.include({ key: 'new-cart', errorCode: 'INVALID_CONTEXT' });
    const bulk = await ofrep('', { context: [] });
    expect(bulk.status).to.equal(400);
    expect(await bulk.json()).to.include({ errorCode: 'INVALID_CONTEXT' });

    const c = await client('errors');
    const unknown = await c.getBooleanDetails('nope', true, { targetingKey: 'u1' });
    expect(unknown).to.include({ value: true, errorCode: 'FLAG_NOT_FOUND' });
    const noKey = await c.getBooleanDetails('new-cart', false, { email: 'eve@qa.example.com' }); // no targetingKey: accepted
    expect(noKey).to.include({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    expect(noKey.errorCode).to.equal(undefined);
  });

  it('the stock Node provider and the raw protocol agree on 1,000 contexts', async () => {
    const c = await client('agree');
    const random = seededRandom(25);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
    const keys = ['new-cart', 'checkout-color', 'max-items'] as const;
    const seen = new Set<string>();
    const contexts = Array.from({ length: 1000 }, (_, i) => ({ targetingKey: `user-${Math.floor(random() * 1e9)}`,
      email: `u${i}@${pick(['qa.example.com', 'example.com', 'shop.test'])}`,
      appVersion: `${pick([1, 2, 3])}.${Math.floor(random() * 10)}.0`, country: pick(['de', 'fr', 'us', 'jp']) }));
    const compare = async (context: (typeof contexts)[number], i: number) => {
      const key = keys[i % keys.length];
      const raw = await evaluate(key, context);
      const sdk = key === 'new-cart' ? await c.getBooleanDetails(key, true, context)
        : key === 'checkout-color' ? await c.getStringDetails(key, 'none', context) : await c.getNumberDetails(key, -1, context);
      expect({ value: sdk.value, variant: sdk.variant, reason: sdk.reason }, JSON.stringify(context))
        .to.deep.equal({ value: raw.value, variant: raw.variant, reason: raw.reason });
      seen.add(`${key}=${raw.variant}`);
    };
    for (let i = 0; i < contexts.length; i += 10) await Promise.all(contexts.slice(i, i + 10).map((ctx, j) => compare(ctx, i + j)));
    expect(seen.size).to.equal(7); // every variant of every flag came up
  });

  it('the web provider reads every flag through the bulk endpoint; an unchanged bulk is a 304', async () => {
    await WebOpenFeature.setContext({ targetingKey: 'ada', appVersion: '2.1.0' });
    await WebOpenFeature.setProviderAndWait(new OFREPWebProvider({ baseUrl: server.url, headers: [['Authorization', `Bearer ${FLAGS_TOKEN}`]], cacheMode: 'disabled' }));
    const web = WebOpenFeature.getClient();
    expect(web.getBooleanValue('new-cart', false)).to.equal(true);
    expect(web.getStringValue('checkout-color', 'none')).to.equal('green');
    expect(web.getStringValue('banner-text', 'none')).to.equal('Welcome');

    const first = await ofrep('', { context: { targetingKey: 'ada' } });
    expect(first.status).to.equal(200);
    expect(first.headers.get('content-type')).to.match(/^application\/json/);
    const etag = first.headers.get('etag')!;
    expect(etag).to.match(/^"[A-Za-z0-9_-]+"$/);
    const again = await ofrep('', { context: { targetingKey: 'ada' } }, { authorization: `Bearer ${FLAGS_TOKEN}`, 'if-none-match': etag });
    expect(again.status).to.equal(304);
    expect(await again.text()).to.equal('');
    const other = await ofrep('', { context: { targetingKey: 'someone-else', email: 'x@example.com' } }, { authorization: `Bearer ${FLAGS_TOKEN}`, 'if-none-match': etag });
    expect(other.status).to.equal(200);
  });

  it('kill needs an admin: refused without credentials and with the runner or flags token', async () => {
    const kill = (headers: Record<string, string>) => fetch(`${server.url}/api/flags/shop/new-cart/kill`, { method: 'POST',
      headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
    for (const headers of [{}, { authorization: `Bearer ${RUNNER_TOKEN}` }, { authorization: `Bearer ${FLAGS_TOKEN}` }] as Record<string, string>[]) {
      const res = await kill(headers);
      expect(res.status).to.equal(401);
      expect((await res.json()).error.code).to.equal('GG_ADMIN_TOKEN');
    }
    const restore = await fetch(`${server.url}/api/flags/shop/new-cart/restore`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(restore.status).to.equal(401);
    expect((await evaluate('new-cart', { targetingKey: 'ada' })).value).to.equal(true); // nothing changed
    expect((await server.api('/api/flags/shop/new-cart/history')).events).to.deep.equal([]);
  });

  it('greengate flag kill turns a flag off for everyone within 1 s while the tree is closed, is recorded, and survives a restart', async () => {
    await server.api('/api/tree/shop/main', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADA_TOKEN}` },
      body: JSON.stringify({ state: 'closed', message: 'cart incident' }) });
    const c = await client('kill');
    expect((await c.getBooleanDetails('new-cart', false, { targetingKey: 'ada' })).value).to.equal(true);

    const cli = await run(process.execPath, [...NODE_FLAGS, CLI, 'flag', 'kill', 'new-cart', '--repo', 'shop', '--server', server.url,
      '--admin-token-file', tokenFile, '--message', 'checkout errors up'], { encoding: 'utf8' });
    expect(cli.stdout).to.contain('shop: flag new-cart KILLED');
    const killedAt = Date.now();
    await pollUntil(async () => (await c.getBooleanDetails('new-cart', true, { targetingKey: 'ada' })).reason === 'DISABLED', 'the kill to be served', 1_000);
    expect(Date.now() - killedAt).to.be.below(1_000);
    for (const targetingKey of ['ada', 'bob', 'user-1', 'user-2']) {
      expect(await c.getBooleanDetails('new-cart', true, { targetingKey, email: 'eve@qa.example.com' })).to.include({ value: false, variant: 'off', reason: 'DISABLED' });
    }
    const history = (await server.api('/api/flags/shop/new-cart/history')).events;
    expect(history).to.have.length(1);
    expect(history[0]).to.include({ action: 'kill', actor: 'ada', message: 'checkout errors up' });
    expect((await server.api('/api/flags/shop')).flags.find((f: any) => f.key === 'new-cart').killed).to.include({ actor: 'ada' });

    await server.kill();
    await server.start();
    expect(await evaluate('new-cart', { targetingKey: 'ada' })).to.deep.include({ value: false, variant: 'off', reason: 'DISABLED' });

    await server.api('/api/flags/shop/new-cart/restore', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADA_TOKEN}` }, body: '{}' });
    expect(await evaluate('new-cart', { targetingKey: 'ada' })).to.deep.include({ value: true, reason: 'TARGETING_MATCH' });
    expect((await server.api('/api/flags/shop/new-cart/history')).events.map((e: any) => e.action)).to.deep.equal(['restore', 'kill']);
  });

  it('counts wrong flags tokens per address (429 after the guesses) but never a right one: one bad client behind a shared address blocks nobody', async () => {
    const path = '/new-cart';
    for (let i = 0; i < 10; i++) expect((await ofrep(path, { context: {} }, { authorization: `Bearer wrong-token-${i}` })).status).to.be.oneOf([401, 403]);
    const refused = await ofrep(path, { context: {} }, { authorization: 'Bearer wrong-token-again' });
    expect(refused.status).to.equal(429);
    expect(refused.headers.get('retry-after')).to.match(/^\d+$/);
    const right = await ofrep(path, { context: { targetingKey: 'u1' } });
    expect(right.status, 'the right token still evaluates from that address').to.equal(200);
    expect(right.headers.get('content-type')).to.match(/^application\/json/);
    expect(right.headers.get('ratelimit'), 'a right token skips the guess counter (no rate headers)').to.equal(null);
    expect(Number(right.headers.get('content-length'))).to.equal(Buffer.byteLength(JSON.stringify(await right.json())));
  });
});
