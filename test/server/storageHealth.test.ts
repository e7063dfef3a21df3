import { expect } from 'chai';
import { startShopServer } from './shopServer.js';
import WebSocket from 'ws';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../server/main.js';
import { parseConfig } from '../../server/config/config.js';
import { CloseCode, PROTOCOL_VERSION, WS_PATH } from '../../server/protocol.js';
import { RETRY_WHILE_DEGRADED_MS } from '../../server/dispatch/gateway.js';
import { StorageHealth } from '../../server/storageHealth.js';
import { openStore } from '../../server/store/index.js';
import { ADMIN_TOKEN, ROOT, RUNNER_TOKEN, Repo, pollUntil, tempHome } from '../helpers.js';
import { SmallDisk } from '../fullDisk.js';

/** A raw WebSocket client playing the runner's end, keeping every message it gets. */
class RawRunner {
  readonly ws: WebSocket;
  readonly got: any[] = [];
  closedWith: { code: number; reason: string } | null = null;
  constructor(server: RunningServer, name: string) {
    this.ws = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
    this.ws.on('message', (d) => this.got.push(JSON.parse(d.toString())));
    this.ws.on('close', (code, reason) => { this.closedWith = { code, reason: reason.toString() }; });
    this.ws.once('open', () => this.send({ type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name, slots: 1, version: 'test', units: [] }));
  }
  send(msg: object): void { this.ws.send(JSON.stringify(msg)); }
  waitFor(pred: (m: any) => boolean, what: string): Promise<any> {
    return pollUntil(() => this.got.find(pred), what, 10_000);
  }
}

const log = (unit: number, seq: number) => ({ type: 'log', unit, seq, offset: seq * 10, stream: 'out', data: `line ${seq}\n` });
const finished = (unit: number) => ({
  type: 'finished', unit, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 1, durationMs: 5, tests: [], testsError: null,
});

describe('storage faults: a full data disk degrades the server instead of crashing it', function () {
  this.timeout(40_000);
  let home: ReturnType<typeof tempHome>;
  let disk: SmallDisk;
  let server: RunningServer;

  before(async () => {
    home = tempHome();
    disk = new SmallDisk(join(home.dir, 'data'), 8).mount();
    const repo = new Repo(home.dir);
    const config = parseConfig(`
runnerToken: ${RUNNER_TOKEN}
adminToken: ${ADMIN_TOKEN}
data: ./data
repositories:
  - name: shop
    path: ${repo.bare}
    gate: [main]
    builders: [{ name: unit, run: "true" }]
`, { baseDir: home.dir });
    server = await startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
  });
  after(async () => {
    await server?.close();
    disk?.unmount();
    home.cleanup();
  });

  const get = (path: string, init?: RequestInit) => fetch(server.url + path, init);
  const metric = async (line: RegExp) => Number(line.exec(await (await get('/metrics')).text())?.[1] ?? NaN);

  it('keeps serving reads, answers writes 503, holds runner reports back with retry, and resumes when space returns', async () => {
    const runner = new RawRunner(server, 'raw');
    await runner.waitFor((m) => m.type === 'welcome', 'welcome');
    expect(await (await get('/healthz')).json()).to.include({ ok: true, status: 'ok' });
    expect(await get('/')).to.have.property('status', 200);
    expect(await (await get('/')).text()).not.to.contain('storage-banner');

    disk.fill();
    // The next write fails (a heartbeat's touch): the server notices and degrades.
    const health = await pollUntil(async () => {
      runner.send({ type: 'heartbeat' });
      const h = await (await get('/healthz')).json();
      return h.status === 'degraded' ? h : null;
    }, 'the server to notice the full disk', 10_000, 100);
    expect(health).to.deep.include({ ok: false });
    expect(health.storage).to.include({ state: 'degraded', kind: 'full', code: 'SQLITE_FULL' });

    // Runner reports are not acked and the socket stays open: the runner is told to keep them.
    runner.send(log(999, 0));
    runner.send(finished(999));
    const retryLog = await runner.waitFor((m) => m.type === 'retry' && m.afterMs === RETRY_WHILE_DEGRADED_MS, 'a retry');
    expect(retryLog).to.include({ unit: 999 });
    await pollUntil(() => runner.got.filter((m) => m.type === 'retry').length >= 2, 'a retry for the finished report too', 5000);
    expect(runner.got.map((m) => m.type)).not.to.include.members(['ack', 'ackFinished', 'refuse']);
    expect(runner.closedWith).to.equal(null);

    // A runner that cannot be registered now is told to come back later (not a fatal code).
    const late = new RawRunner(server, 'late');
    await pollUntil(() => late.closedWith, 'the late runner to be closed', 5000);
    expect(late.closedWith!.code).to.equal(CloseCode.tryAgainLater);
    // Without a hello (no token), a report is not even held back: the socket is closed as before.
    const anonymous = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
    const anonymousClosed = new Promise<number>((resolve) => anonymous.once('close', (code) => resolve(code)));
    anonymous.once('open', () => anonymous.send(JSON.stringify(log(999, 0))));
    expect(await anonymousClosed).to.equal(CloseCode.policy);

    // Reads go on; pages carry the banner.
    expect(await get('/api/builds')).to.have.property('status', 200);
    const page = await get('/');
    expect(page.status).to.equal(200);
    expect(await page.text()).to.match(/id="storage-banner"[^>]*>Storage problem: the disk of the server&#39;s data directory is full/);

    // Writes answer 503 with the catalogued error, with and without credentials.
    const noToken = await get('/api/builds/1/cancel', { method: 'POST' });
    expect(noToken.status).to.equal(503);
    expect(noToken.headers.get('retry-after')).to.equal('10');
    const body = await noToken.json();
    expect(body.error.code).to.equal('GG_STORAGE_FULL');
    expect(body.error.message).to.match(/full.*nothing stored before is lost.*Free space on that disk.*resumes by itself/);
    const admin = await get('/api/tree/shop/main', {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'closing on a full disk' }),
    });
    expect(admin.status).to.equal(503);
    expect((await admin.json()).error.code).to.equal('GG_STORAGE_FULL');
    const form = await get('/tree/state', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'state=open' });
    expect(form.status).to.equal(503);
    expect(await form.text()).to.contain('nothing stored before is lost');

    expect(await metric(/^greengate_storage_errors_total\{kind="full"\} (\d+)$/m)).to.be.at.least(1);
    expect(await metric(/^greengate_storage_degraded (\d+)$/m)).to.equal(1);
    expect(await metric(/^greengate_storage_writes_held_back_total\{what="log"\} (\d+)$/m)).to.be.at.least(1);
    expect(await metric(/^greengate_storage_writes_held_back_total\{what="http"\} (\d+)$/m)).to.be.at.least(3);

    // Space comes back: the server resumes by itself and asks the runner for what it kept.
    disk.free();
    await pollUntil(async () => (await (await get('/healthz')).json()).status === 'ok', 'the server to resume', 10_000, 100);
    await runner.waitFor((m) => m.type === 'retry' && m.afterMs === 0 && m.unit === 999, 'a retry-now');
    runner.send(log(999, 0));
    expect(await runner.waitFor((m) => m.type === 'refuse', 'the resent chunk to be looked at')).to.include({ unit: 999 });
    expect(await (await get('/')).text()).not.to.contain('storage-banner');
    expect(await metric(/^greengate_storage_degraded (\d+)$/m)).to.equal(0);
    const closed = await get('/api/tree/shop/main', {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'disk fixed' }),
    });
    expect(closed.status).to.equal(200);
    runner.ws.close();
  });
});

describe('storage faults: a runner that leaves while nothing can be stored', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let disk: SmallDisk;
  let server: RunningServer;
  let repo: Repo;

  before(async () => {
    home = tempHome();
    disk = new SmallDisk(join(home.dir, 'data'), 8).mount();
    repo = new Repo(home.dir);
    server = await startShopServer(home.dir, repo);
  });
  after(async () => {
    await server?.close();
    disk?.free();
    disk?.unmount();
    home.cleanup();
  });

  it('keeps its unit until storage is back, then gives it LOST_AFTER_MS to return before requeueing it', async () => {
    const runner = new RawRunner(server, 'leaver');
    await runner.waitFor((m) => m.type === 'welcome', 'welcome');
    repo.commit({ 'a.txt': 'a' }, 'one unit');
    repo.push();
    const assign = await runner.waitFor((m) => m.type === 'assign', 'a unit');
    disk.fill();
    await pollUntil(async () => {
      runner.send({ type: 'heartbeat' });
      return !server.health.writable;
    }, 'the server to notice the full disk', 10_000, 100);
    runner.ws.close();
    await pollUntil(() => server.connectedRunners().length === 0, 'the runner to be gone', 5000);
    expect(server.store.units.get(assign.unit)).to.include({ state: 'running' }); // not lost while nothing can be stored

    disk.free();
    await pollUntil(() => server.health.writable, 'the server to resume', 10_000, 100);
    const lost = await pollUntil(() => {
      const u = server.store.units.get(assign.unit);
      return u?.state === 'done' ? u : null;
    }, 'the unit to be lost once the runner did not come back', 30_000, 200);
    expect(lost.result).to.equal('exception');
    expect(lost.error).to.contain('did not come back');
    const again = server.store.units.byBuild(assign.build).find((u) => u.retryOf === assign.unit);
    expect(again).to.include({ state: 'queued' });
  });
});

describe('StorageHealth', () => {
  it('records only storage faults, and guard() throws any other error on', () => {
    const home = tempHome();
    const store = openStore(join(home.dir, 'gg.db'));
    try {
      const health = new StorageHealth(store, home.dir, pino({ level: 'silent' }), 60_000);
      expect(() => health.guard('x', () => { throw new Error('a bug'); })).to.throw('a bug');
      expect(health.writable).to.equal(true);
      const err = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
      expect(health.guard('x', () => { throw err; })).to.equal(undefined);
      expect(health.status()).to.include({ state: 'degraded', kind: 'io', code: 'SQLITE_IOERR_WRITE' });
      const refusal = health.refusal('POST /api/x');
      expect(refusal).to.include({ code: 'GG_STORAGE_IO', status: 503 });
      expect(refusal.message).to.match(/cannot write its database \(SQLITE_IOERR_WRITE\).*nothing stored before is lost/);
      // The database itself is fine, so the next probe clears the state.
      expect(health.probe()).to.equal(true);
      expect(health.status()).to.deep.equal({ state: 'ok' });
      health.close();
    } finally {
      store.close();
      home.cleanup();
    }
  });

  it('holds back on a busy database without degrading: GG_STORAGE_BUSY, state ok, nothing probed', () => {
    const home = tempHome();
    const store = openStore(join(home.dir, 'gg.db'));
    try {
      const health = new StorageHealth(store, home.dir, pino({ level: 'silent' }), 60_000);
      let busy = 0;
      health.on('busy', () => { busy++; });
      const err = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      expect(health.guard('heartbeat', () => { throw err; })).to.equal(undefined);
      expect(health.writable).to.equal(true);
      expect(health.status()).to.deep.equal({ state: 'ok' });
      const refusal = health.toGgError(err, 'POST /api/x')!;
      expect(refusal).to.include({ code: 'GG_STORAGE_BUSY', status: 503 });
      expect(refusal.message).to.match(/another process holds the server's database write lock.*Send it again in a moment/);
      expect(busy).to.equal(2);
      health.close();
    } finally {
      store.close();
      home.cleanup();
    }
  });
});

describe('installProcessGuard: a storage fault thrown outside any request does not end the process', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let disk: SmallDisk;
  before(() => {
    home = tempHome();
    disk = new SmallDisk(join(home.dir, 'data'), 8).mount();
    const store = openStore(join(disk.dir, 'gg.db'));
    store.runners.register({ name: 'r1', slots: 1, version: 't', address: null, at: 1 });
    store.close();
  });
  after(() => {
    disk?.free();
    disk?.unmount();
    home?.cleanup();
  });

  it('records a fault from a timer and from a rejected promise, and still ends on any other uncaught error', () => {
    // A real process with the guard fills the disk, writes from a timer and a promise, then has a plain bug.
    const script = `
      import { pino } from 'pino';
      import { openStore } from '${ROOT}dist/server/store/index.js';
      import { StorageHealth, installProcessGuard } from '${ROOT}dist/server/storageHealth.js';
      import { SmallDisk } from '${ROOT}dist/test/fullDisk.js';
      const store = openStore(${JSON.stringify(join(disk.dir, 'gg.db'))});
      new SmallDisk(${JSON.stringify(disk.dir)}).fill();
      const health = new StorageHealth(store, ${JSON.stringify(disk.dir)}, pino({ level: 'silent' }), 60_000);
      installProcessGuard(health, pino({ level: 'silent' }));
      // Latches, not delays: each step starts once the guard has recorded the previous one's fault.
      let faults = 0;
      health.on('fault', () => {
        faults++;
        if (faults === 1) setTimeout(() => Promise.resolve().then(() => store.runners.markAllDisconnected()));
        if (faults === 2) setTimeout(() => { console.log(JSON.stringify({ ...health.status(), faults })); throw new Error('a plain bug'); });
      });
      setTimeout(() => store.runners.touch(1, 2));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
    expect(JSON.parse(r.stdout.trim() || 'null'), r.stderr).to.include({ state: 'degraded', kind: 'full', code: 'SQLITE_FULL', faults: 2 });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/greengate: uncaught error: Error: a plain bug/);
    expect(r.stderr).not.to.contain('SQLITE_FULL');
  });
});
