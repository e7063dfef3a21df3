import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ADMIN_TOKEN, ROOT, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';
import { NOTIFY_ENV, Receiver } from '../notifyFixtures.js';

const LOCK_MS = 10_000; // two heartbeat periods (HEARTBEAT_MS = 5 s)

/** Another process (a real better-sqlite3 connection) holding the database's write lock for ms; prints "locked", then "released". */
function holdWriteLock(dbFile: string, ms: number): ChildProcess & { output: string } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import Database from 'better-sqlite3';
    const db = new Database(${JSON.stringify(dbFile)});
    db.exec('BEGIN IMMEDIATE');
    console.log('locked');
    setTimeout(() => { db.exec('COMMIT'); db.close(); console.log('released'); }, ${ms});`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: string };
  child.output = '';
  child.stdout!.on('data', (d) => { child.output += d; });
  child.stderr!.on('data', (d) => { child.output += d; });
  return child;
}

/**
 * A SQLite lock held by another process for 10 s while runners heartbeat and requests arrive:
 * the server keeps answering within milliseconds, a write answers 503 GG_STORAGE_BUSY (not 500),
 * runners stay connected and nobody is told a runner was lost.
 */
describe('a database write lock held by another process (real server, runners, lock holder)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let receiver: Receiver;
  const children: ChildProcess[] = [];

  before(async () => {
    home = tempHome('gg-busy-');
    const repo = new Repo(home.dir);
    receiver = await new Receiver().start();
    server = new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }],
      { notify: { webhooks: [{ url: receiver.url, secret: { env: 'GG_TEST_WEBHOOK_SECRET' }, events: ['runner.lost'] }] } }));
    server.env = NOTIFY_ENV;
    await server.start();
    children.push(startRunner(server.url, 'r1', home.dir), startRunner(server.url, 'r2', home.dir));
    await pollUntil(async () => (await server.api('/healthz')).runners === 2, 'both runners to connect');
  });
  after(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c)));
    await server?.kill();
    await receiver?.close();
    home?.cleanup();
  });

  const closeTree = (token?: string) => fetch(`${server.url}/api/tree/shop/main`, {
    method: 'POST', body: JSON.stringify({ state: 'closed', message: 'during the lock' }),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });

  it('keeps answering quickly, refuses writes with 503 GG_STORAGE_BUSY, and keeps its runners', async () => {
    const holder = holdWriteLock(join(home.dir, 'data', 'greengate.db'), LOCK_MS);
    children.push(holder);
    await pollUntil(() => holder.output.includes('locked'), 'the other process to take the lock');
    const lockedAt = Date.now();

    // While the lock is held: the server's event loop, seen from outside as the time /healthz takes.
    let slowestMs = 0;
    let answered = 0;
    let write: Response | null = null;
    let writeMs = 0;
    while (!holder.output.includes('released')) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(15_000) });
      slowestMs = Math.max(slowestMs, performance.now() - t0);
      if (res.ok) answered++;
      if (!write && Date.now() - lockedAt > 1000) {
        expect((await closeTree()).status, 'no credentials: refused before any write').to.equal(401);
        const w0 = performance.now();
        write = await closeTree(ADMIN_TOKEN);
        writeMs = performance.now() - w0;
        expect(write.status).to.equal(503);
        expect(write.headers.get('retry-after')).to.equal('1');
        const body = await write.json() as { error: { code: string; message: string } };
        expect(body.error.code).to.equal('GG_STORAGE_BUSY');
        expect(body.error.message).to.match(/another process holds the server's database write lock/);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (process.env.GG_TEST_FIGURES) console.log({ slowestMs, answered, writeMs });
    expect(Date.now() - lockedAt).to.be.at.least(LOCK_MS - 500);
    expect(write, 'a write was tried during the lock').to.not.equal(null);
    expect(writeMs, 'the refused write answered at once').to.be.below(500);
    expect(answered).to.be.above(50);
    expect(slowestMs, 'the event loop never stalled').to.be.below(250);

    // Heartbeats hit the lock (counted) and nobody was dropped.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/^greengate_storage_errors_total\{kind="busy"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)).to.be.at.least(2);
    expect((await server.api('/healthz')).runners).to.equal(2);
    expect((await server.api('/healthz')).status).to.equal('ok');
    // Writes work again at once.
    expect((await closeTree(ADMIN_TOKEN)).status).to.equal(200);
    // No runner.lost was recorded or sent, and no socket was closed with 1011.
    const deliveries = (await server.api('/api/notifications')).deliveries as { kind: string }[];
    expect(deliveries.filter((d) => d.kind === 'runner.lost')).to.deep.equal([]);
    expect(receiver.requests).to.deep.equal([]);
    expect(server.output).to.not.match(/runner lost|internal error handling/);
    expect(server.child.exitCode).to.equal(null);
  });

  it('stores a runner\'s leaving once the lock is gone, when it left while the lock was held', async () => {
    const holder = holdWriteLock(join(home.dir, 'data', 'greengate.db'), 2_000);
    children.push(holder);
    await pollUntil(() => holder.output.includes('locked'), 'the other process to take the lock');
    await stopChild(children[1], 'SIGKILL'); // r2 is lost while nothing can be written (SIGTERM would be a clean stop: no runner.lost)
    await pollUntil(() => holder.output.includes('released'), 'the lock to be released', 10_000);
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'r2\'s leaving to be stored', 10_000);
    const lost = await pollUntil(async () => ((await server.api('/api/notifications')).deliveries as { kind: string; summary: string }[])
      .find((d) => d.kind === 'runner.lost'), 'the runner.lost notification');
    expect(lost.summary).to.contain('r2');
    expect(server.child.exitCode).to.equal(null);
  });
});
