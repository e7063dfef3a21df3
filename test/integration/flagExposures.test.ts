import { expect } from 'chai';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { openStore } from '../../server/store/index.js';
import { Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../helpers.js';

const FLAGS_TOKEN = 'shop-flags-token-0123456789';
const FLAGS = JSON.stringify({ flags: {
  'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
} });

/** Server-side exposures are buffered (flags/experiments.ts): a clean shutdown under load writes every one that was answered. */
describe('flag exposures across a clean shutdown', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  afterEach(async () => { await server?.kill('SIGKILL'); home.cleanup(); });

  it('records an exposure for every evaluation answered while SIGTERM stops the server', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    repo.commit({ 'flags.json': FLAGS }, 'a 50/50 split');
    repo.push();
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: FLAGS_TOKEN } } as Parameters<typeof writeConfig>[1][number]])).start();
    const { hostname, port } = new URL(server.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    /** The variant user-i got, or null once the server no longer answers. */
    const evaluate = (i: number) => new Promise<string | null>((resolve) => {
      const body = JSON.stringify({ context: { targetingKey: `user-${i}` } });
      const req = request({ agent, hostname, port, method: 'POST', path: '/ofrep/v1/evaluate/flags/new-cart',
        headers: { authorization: `Bearer ${FLAGS_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => {
          resolve(res.statusCode === 200 ? (JSON.parse(text) as { variant?: string }).variant ?? null : null);
        }).on('error', () => resolve(null));
      });
      req.on('error', () => resolve(null)).end(body);
    });
    await pollUntil(async () => (await evaluate(-1)) !== null, 'the flags to be served', 10_000);

    const answered = new Set<number>();
    let next = 0;
    const loops = Array.from({ length: 8 }, async () => {
      for (;;) {
        const i = next++;
        if ((await evaluate(i)) === null) return;
        answered.add(i);
      }
    });
    await pollUntil(() => answered.size >= 200, 'evaluations under way', 10_000);
    const exited = new Promise<number | null>((r) => server.child.once('exit', (code) => r(code)));
    server.child.kill('SIGTERM'); // while evaluations keep coming
    await Promise.all(loops);
    expect(await exited).to.equal(0);
    agent.destroy();

    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    try {
      const rows = store.db.prepare("SELECT COUNT(*) AS n FROM flag_exposures WHERE key = 'new-cart'").get() as { n: number };
      expect(rows.n).to.be.at.least(answered.size + 1); // every answered one (user--1 too) …
      expect(rows.n).to.be.at.most(answered.size + 1 + 8); // … and at most the 8 in flight whose answers the closing server cut off
    } finally {
      store.close();
    }
  });
});
