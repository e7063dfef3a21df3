import { expect } from 'chai';
import { installHooks } from '../../server/gate/hookInstall.js';
import { Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../helpers.js';

const FLAGS_TOKEN = 'shop-flags-token-0123456789';
const flagsFile = (on: number) => JSON.stringify({ flags: {
  'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', on], ['off', 100 - on]] } },
} });

/** A/B tests end to end: server-side evaluations as exposures, client batches of events, the experiment page, phases. */
describe('A/B tests (exposures, conversions, the experiment page)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;

  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: FLAGS_TOKEN } } as Parameters<typeof writeConfig>[1][number]]);
    server = await new ServerProcess(config).start();
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    repo.commit({ 'flags.json': flagsFile(50) }, 'a 50/50 split of the new cart');
    expect(repo.push().ok).to.equal(true);
    await pollUntil(async () => (await server.api('/api/flags/shop')).flags.length === 1, 'the flags to be served');
  });
  after(async () => {
    await server.kill();
    home.cleanup();
  });

  const post = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${FLAGS_TOKEN}` }) =>
    fetch(`${server.url}/ofrep/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const evaluate = async (targetingKey: string): Promise<string> => {
    const res = await fetch(`${server.url}/ofrep/v1/evaluate/flags/new-cart`, { method: 'POST',
      headers: { 'x-api-key': FLAGS_TOKEN, 'content-type': 'application/json' }, body: JSON.stringify({ context: { targetingKey } }) });
    return ((await res.json()) as { variant: string }).variant;
  };

  it('flag hygiene on each push: a flag no file names is marked unreferenced; a call naming an undefined flag is listed', async () => {
    const sha = repo.commit({ 'src/cart.ts': "export const on = (c: any) => c.getBooleanValue('old-cart', false);\n" }, 'code that reads a flag nobody defined');
    expect(repo.push().ok).to.equal(true);
    const list = await pollUntil(async () => { const l = await server.api('/api/flags/shop'); return l.hygieneAt === sha ? l : null; }, 'the hygiene of the new head', 10_000, 100);
    expect(list.flags[0]).to.include({ key: 'new-cart', unreferenced: true, removable: false });
    expect(list.undefinedRefs).to.deep.equal([{ key: 'old-cart', file: 'src/cart.ts' }]);
    const page = await (await fetch(`${server.url}/flags/shop`)).text();
    expect(page).to.contain('unreferenced').and.to.contain('<code>old-cart</code> in src/cart.ts');
  });

  it('POST /ofrep/v1/events without a token → 401, with a wrong one → 403; nothing recorded', async () => {
    const event = { flag: 'new-cart', variant: 'on', targetingKey: 'u1', kind: 'exposure' };
    expect((await post({ events: [event] }, {})).status).to.equal(401);
    expect((await post({ events: [event] }, { authorization: 'Bearer not-the-flags-token-000' })).status).to.equal(403);
    const page = await (await fetch(`${server.url}/flags/shop/new-cart/experiment`)).text();
    expect(page).to.contain('No exposures recorded yet');
  });

  it('refuses a batch with a bad event whole, naming the event and the field', async () => {
    const good = { flag: 'new-cart', variant: 'on', targetingKey: 'u1', kind: 'exposure' };
    const cases: [unknown, RegExp][] = [
      [{ events: [good, { ...good, variant: 'maybe' }] }, /events\[1\]\.variant: flag new-cart has no variant "maybe" \(it has on, off\)/],
      [{ events: [{ ...good, kind: 'conversion' }] }, /events\[0\]\.metric: a conversion needs the metric/],
      [{ events: [{ ...good, flag: 'nope' }] }, /events\[0\]\.flag: repository shop serves no flag "nope"/],
      [{ events: [{ ...good, at: Date.now() - 30 * 86_400_000 }] }, /events\[0\]\.at: must be a time within the last 7 days/],
      [{ events: Array.from({ length: 1001 }, () => good) }, /at most 1000 events/],
      [{ events: [{ ...good, colour: 'red' }] }, /events\[0\]: .*colour/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body).slice(0, 100)).to.equal(400);
      const answer = (await res.json()) as { error: { code: string; message: string } };
      expect(answer.error.code).to.equal('GG_FLAG_EVENTS');
      expect(answer.error.message).to.match(message);
    }
    expect(await (await fetch(`${server.url}/flags/shop/new-cart/experiment`)).text()).to.contain('No exposures recorded yet');
  });

  it('counts server-side evaluations as exposures, conversions posted in batches (once per user per day), and shows the verdict with its rule; a weights change starts a new phase', async () => {
    const users = Array.from({ length: 500 }, (_, i) => `user-${i}`);
    const variants = new Map<string, string>();
    for (const u of users) variants.set(u, await evaluate(u));
    await evaluate('user-0'); // again the same day: still one exposure
    const on = users.filter((u) => variants.get(u) === 'on');
    const off = users.filter((u) => variants.get(u) === 'off');
    // on converts 30 %, off 10 %; every conversion sent twice (the second is a duplicate).
    const conversions = [...on.filter((_, i) => i % 10 < 3), ...off.filter((_, i) => i % 10 < 1)]
      .map((u) => ({ flag: 'new-cart', variant: variants.get(u)!, targetingKey: u, kind: 'conversion', metric: 'checkout', value: 1 }));
    const first = await post({ events: conversions });
    expect(first.status).to.equal(200);
    expect(await first.json()).to.deep.equal({ accepted: conversions.length, duplicates: 0 });
    expect(await (await post({ events: conversions })).json()).to.deep.equal({ accepted: 0, duplicates: conversions.length });

    const page = await pollUntil(async () => {
      const text = await (await fetch(`${server.url}/flags/shop/new-cart/experiment`)).text();
      return text.includes('on wins on checkout') ? text : null;
    }, 'the experiment page to show the verdict', 10_000, 200);
    expect(page).to.match(/lift \+\d+\.\d %/).and.to.contain('95 % CI').and.to.contain('rule: two-sided z-test');
    expect(page).to.contain(`<td class="num">${on.length}</td>`).and.to.contain(`<td class="num">${off.length}</td>`); // each user once
    expect(page).to.contain('Sample-ratio check: χ² p =');

    repo.commit({ 'flags.json': flagsFile(80) }, 'more of the new cart');
    expect(repo.push().ok).to.equal(true);
    await pollUntil(async () => (await evaluate('probe')) !== undefined && (await (await fetch(`${server.url}/flags/shop/new-cart`)).text()).includes('80'), 'the new weights to be served');
    await evaluate('user-1');
    const next = await pollUntil(async () => {
      const text = await (await fetch(`${server.url}/flags/shop/new-cart/experiment`)).text();
      return text.includes('(current)') ? text : null;
    }, 'a second phase', 10_000, 200);
    expect(next).to.contain('No verdict: no conversions recorded in this phase'); // the first phase's conversions are not mixed in
    const phases = [...next.matchAll(/experiment\?phase=([0-9a-f]{16})/g)].map((m) => m[1]);
    expect(phases).to.have.length(2);
    const old = await (await fetch(`${server.url}/flags/shop/new-cart/experiment?phase=${phases[1]}`)).text();
    expect(old).to.contain('on wins on checkout');
  });
});
