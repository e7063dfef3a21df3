import { expect } from 'chai';
import { shopConfig, startShopServer } from '../shopServer.js';
import WebSocket from 'ws';
import { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { RunningServer } from '../../../server/main.js';
import { CloseCode, MAX_FRAME_BYTES, PROTOCOL_VERSION, WS_PATH } from '../../../server/protocol.js';
import { RUNNER_TOKEN, Repo, pollUntil, tempHome } from '../../helpers.js';
import { RUNNER_GUESSES } from '../../../server/dispatch/tokenGuesses.js';

/** A raw WebSocket client playing the runner's end of the protocol. */
function connect(server: RunningServer): Promise<WebSocket> {
  const ws = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject); });
}
function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}
function nextMessage(ws: WebSocket): Promise<any> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
}
const hello = (extra: Record<string, unknown> = {}) => JSON.stringify({
  type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name: 'raw', slots: 1, version: 'test', units: [], ...extra,
});

describe('runner gateway: bad input closes only that socket', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  beforeEach(async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    server = await startShopServer(home.dir, repo);
  });
  afterEach(async () => {
    await server.close();
    home.cleanup();
  });

  async function expectAlive(): Promise<void> {
    const ws = await connect(server);
    ws.send(hello({ name: 'healthy' }));
    const welcome = await nextMessage(ws);
    expect(welcome.type).to.equal('welcome');
    ws.close();
    const res = await fetch(server.url + '/api/builds');
    expect(res.status).to.equal(200);
  }

  it('keeps the CPUs a runner says it has (none from a runner that does not say)', async () => {
    const ws = await connect(server);
    ws.send(hello({ name: 'counted', cpus: 2, slots: 4 }));
    expect((await nextMessage(ws)).type).to.equal('welcome');
    const quiet = await connect(server);
    quiet.send(hello({ name: 'older' }));
    expect((await nextMessage(quiet)).type).to.equal('welcome');
    const rows = new Map(server.store.runners.all().map((r) => [r.name, r]));
    expect(rows.get('counted')).to.include({ cpus: 2, slots: 4 });
    expect(rows.get('older')!.cpus).to.equal(null);
    ws.close();
    quiet.close();
  });

  it('refuses a wrong token with 4001 and a reason that says how to fix it', async () => {
    const ws = await connect(server);
    ws.send(hello({ token: 'wrong-token-000' }));
    const c = await closed(ws);
    expect(c.code).to.equal(CloseCode.unauthorized);
    expect(c.reason).to.match(/token rejected.*GREENGATE_RUNNER_TOKEN/);
    await expectAlive();
  });

  it('stores nothing a hello with a wrong token says (no runner row, no CPUs)', async () => {
    const ws = await connect(server);
    ws.send(hello({ token: 'wrong-token-000', name: 'intruder', cpus: 64, slots: 64 }));
    expect((await closed(ws)).code).to.equal(CloseCode.unauthorized);
    expect(server.store.runners.all().map((r) => r.name)).not.to.include('intruder');
    await expectAlive();
  });

  it('refuses runner-token guesses from an address after RUNNER_GUESSES wrong ones (4029), the right token too, and stores nothing', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 50; i++) {
      const ws = await connect(server);
      ws.send(hello({ token: `guess-${i}`, name: `guess-${i}` }));
      codes.push((await closed(ws)).code);
    }
    expect(codes.slice(0, RUNNER_GUESSES)).to.deep.equal(Array(RUNNER_GUESSES).fill(CloseCode.unauthorized));
    expect(codes.slice(RUNNER_GUESSES)).to.deep.equal(Array(50 - RUNNER_GUESSES).fill(CloseCode.tooManyGuesses));
    const right = await connect(server);
    right.send(hello({ name: 'right-but-late' }));
    const c = await closed(right);
    expect(c.code).to.equal(CloseCode.tooManyGuesses);
    expect(c.reason).to.match(/too many wrong runner tokens from .*: try again in 15 minute\(s\)/);
    expect(server.store.runners.all()).to.deep.equal([]);
    // The code URL shares the count (no credentials needed to be refused).
    const git = await fetch(`${server.url}/git/shop.git/info/refs?service=git-upload-pack`, { headers: { authorization: `Bearer ${RUNNER_TOKEN}` } });
    expect(git.status).to.equal(429);
    expect((await git.json()).error.code).to.equal('GG_RUNNER_TOKEN_GUESSES');
  });

  it('refuses another protocol version with 4002 before looking at the token', async () => {
    const ws = await connect(server);
    ws.send(hello({ protocol: PROTOCOL_VERSION + 1, token: 'wrong' }));
    const c = await closed(ws);
    expect(c.code).to.equal(CloseCode.protocolVersion);
    expect(c.reason).to.contain(`speaks ${PROTOCOL_VERSION}`);
  });

  it('tells a newer runner whose hello has unknown fields 4002 with both versions, not 1007', async () => {
    const ws = await connect(server);
    ws.send(hello({ protocol: PROTOCOL_VERSION + 1, capabilities: ['future'], token: 'not-even-checked' }));
    const c = await closed(ws);
    expect(c.code).to.equal(CloseCode.protocolVersion);
    expect(c.reason).to.contain(`protocol ${PROTOCOL_VERSION + 1} is not supported`);
    expect(c.reason).to.contain(`speaks ${PROTOCOL_VERSION}`);
    await expectAlive();
  });

  it('refuses a second connection under a live runner\'s name with 4007 unless it is the same instance', async () => {
    const instance = 'aa'.repeat(16);
    const real = await connect(server);
    real.send(hello({ name: 'busy', instance }));
    expect((await nextMessage(real)).type).to.equal('welcome');
    for (const other of [{ instance: 'bb'.repeat(16) }, {}]) {
      const impostor = await connect(server);
      impostor.send(hello({ name: 'busy', ...other }));
      const c = await closed(impostor);
      expect(c.code).to.equal(CloseCode.nameInUse);
      expect(c.reason).to.contain('in use by another runner');
    }
    expect(real.readyState).to.equal(WebSocket.OPEN);
    const again = await connect(server);
    const replaced = closed(real);
    again.send(hello({ name: 'busy', instance }));
    expect((await nextMessage(again)).type).to.equal('welcome');
    expect((await replaced).code).to.equal(CloseCode.replaced);
    again.close();
  });

  it('closes on a frame that is not JSON, or not a valid message, with 1007', async () => {
    const a = await connect(server);
    a.send('{not json');
    expect((await closed(a)).code).to.equal(CloseCode.badFrame);

    const b = await connect(server);
    b.send(hello());
    await nextMessage(b);
    b.send(JSON.stringify({ type: 'log', unit: -1, seq: 'x' }));
    const c = await closed(b);
    expect(c.code).to.equal(CloseCode.badFrame);
    expect(c.reason).to.match(/invalid "log" message: unit/);
    await expectAlive();
  });

  it('requires hello first', async () => {
    const ws = await connect(server);
    ws.send(JSON.stringify({ type: 'heartbeat' }));
    const c = await closed(ws);
    expect(c.code).to.equal(CloseCode.policy);
    expect(c.reason).to.contain('first frame must be hello');
  });

  it('closes an oversized frame with 1009 and keeps serving', async () => {
    const ws = await connect(server);
    ws.send(hello());
    await nextMessage(ws);
    ws.send('x'.repeat(MAX_FRAME_BYTES + 10));
    expect((await closed(ws)).code).to.equal(CloseCode.tooBig);
    await expectAlive();
  });

  it('refuses a report about a unit the runner does not hold', async () => {
    const ws = await connect(server);
    ws.send(hello());
    await nextMessage(ws);
    ws.send(JSON.stringify({ type: 'log', unit: 999, seq: 0, offset: 0, stream: 'out', data: 'forged\n' }));
    const m = await nextMessage(ws);
    expect(m).to.deep.equal({ type: 'refuse', unit: 999, reason: 'this runner does not hold that unit' });
    ws.close();
  });

  it('lists connected runners only while they are connected', async () => {
    const ws = await connect(server);
    ws.send(hello({ name: 'counted' }));
    await nextMessage(ws);
    expect(server.connectedRunners().map((r) => r.name)).to.deep.equal(['counted']);
    ws.close();
    await pollUntil(() => server.connectedRunners().length === 0, 'the runner to be gone', 5000);
  });
});

describe('runner gateway: a clean stop is the connected runner\'s own normal close', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;
  const lost = () => server.store.notifications.log({ limit: 50 }).filter((d) => d.kind === 'runner.lost');

  beforeEach(async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const notify = { webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: { value: 'a-webhook-secret-0123456789' }, events: ['runner.lost'] }] };
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { notify } }) });
  });
  afterEach(async () => {
    await server.close();
    home.cleanup();
  });

  it('records a welcomed runner closing with 1000 as a clean leave (no runner.lost); no one else can close it; a dropped one is lost', async () => {
    const a = await connect(server);
    a.send(hello({ name: 'a' }));
    expect((await nextMessage(a)).type).to.equal('welcome');
    // Without credentials: a socket that never said hello closes normally — nothing about runner a changes.
    const stranger = await connect(server);
    stranger.close(CloseCode.normal, 'runner stopping');
    await closed(stranger);
    // Another runner's socket closing normally is that runner's clean leave only.
    const b = await connect(server);
    b.send(hello({ name: 'b' }));
    await nextMessage(b);
    await pollUntil(() => server.connectedRunners().length === 2, 'b to join', 5000);
    b.close(CloseCode.normal, 'runner stopping');
    await pollUntil(() => server.connectedRunners().map((r) => r.name).join() === 'a', 'b to leave', 5000);
    expect(lost(), 'a clean stop is no runner.lost').to.have.length(0);
    // A connection that drops (1006) is a lost runner, as before.
    a.terminate();
    await pollUntil(() => server.connectedRunners().length === 0, 'a to be gone', 5000);
    expect(lost().map((d) => d.summary)).to.have.length(1);
    expect(lost()[0].summary).to.match(/^runner a lost: connection closed/);
  });
});

describe('runner gateway: a read-only clone token is not a runner token', function () {
  this.timeout(20_000);
  it('refuses a hello with the clone token (4001) and stores nothing', async () => {
    const home = tempHome();
    const repo = new Repo(home.dir);
    const clone = 'people-clone-token-0001';
    const server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { cloneToken: clone, readTokens: ['tools-read-token-00002'] } }) });
    try {
      for (const token of [clone, 'tools-read-token-00002']) {
        const ws = await connect(server);
        ws.send(hello({ token, name: 'person', cpus: 8 }));
        expect((await closed(ws)).code).to.equal(CloseCode.unauthorized);
      }
      expect(server.store.runners.all().map((r) => r.name)).not.to.include('person');
      expect(server.connectedRunners()).to.deep.equal([]);
    } finally {
      await server.close();
      home.cleanup();
    }
  });
});

/**
 * Transactions committed to a database so far, read from its write-ahead log as SQLite wrote it: the
 * frames of the current WAL generation (their salts match the header's) that end a commit (a
 * non-zero database size in their header; see the SQLite file format, "WAL File Format").
 */
function walCommits(dbFile: string): number {
  const wal = readFileSync(`${dbFile}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt[0] || wal.readUInt32BE(at + 12) !== salt[1]) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

describe('runner gateway: the answers to one burst of frames leave in one write', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  beforeEach(async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a' }, 'first');
    expect(repo.push().ok).to.equal(true); // no hooks: the start-up scan finds the gated branch
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { shop: { gate: ['main'] } }) });
    await pollUntil(async () => (await (await fetch(`${server.url}/api/builds`)).json()).builds.length === 1, 'the build', 15_000);
  });
  afterEach(async () => {
    await server.close();
    home.cleanup();
  });

  it('acks a log chunk and a finished sent together in one socket write, in order', async () => {
    const ws = await connect(server);
    const inbox: any[] = [];
    ws.on('message', (d) => inbox.push(JSON.parse(d.toString())));
    ws.send(hello());
    const assign = await pollUntil(() => inbox.find((m) => m.type === 'assign'), 'an assign', 15_000);
    // Writes of the server's end of this socket (the one whose remote port is the client's local port).
    const clientPort = (ws as any)._socket.localPort as number;
    const proto = Socket.prototype as any;
    const original = { write: proto._write, writev: proto._writev };
    let writes = 0;
    proto._write = function (...a: unknown[]) { if (this.remotePort === clientPort) writes++; return original.write.apply(this, a); };
    proto._writev = function (...a: unknown[]) { if (this.remotePort === clientPort) writes++; return original.writev.apply(this, a); };
    try {
      ws.send(JSON.stringify({ type: 'log', unit: assign.unit, seq: 0, offset: 0, stream: 'out', data: 'ok\n' }));
      ws.send(JSON.stringify({ type: 'finished', unit: assign.unit, exitCode: 0, signal: null, timedOut: false, error: null,
        chunks: 1, durationMs: 5, tests: [] }));
      await pollUntil(() => inbox.some((m) => m.type === 'ackFinished'), 'ackFinished', 15_000);
    } finally {
      proto._write = original.write;
      proto._writev = original.writev;
    }
    expect(inbox.slice(-2).map((m) => m.type)).to.deep.equal(['ack', 'ackFinished']);
    expect(writes).to.equal(1);
    ws.close();
  });

  it('stores a burst of started, log and finished in ONE write transaction and answers it after the commit', async () => {
    const ws = await connect(server);
    const inbox: any[] = [];
    ws.on('message', (d) => inbox.push(JSON.parse(d.toString())));
    ws.send(hello());
    const assign = await pollUntil(() => inbox.find((m) => m.type === 'assign'), 'an assign', 15_000);
    const dbFile = server.store.db.name;
    const before = walCommits(dbFile);
    // The three frames of a unit that ends at once, in one socket write (one burst for the server).
    const frames = [
      { type: 'started', unit: assign.unit, at: Date.now() },
      { type: 'log', unit: assign.unit, seq: 0, offset: 0, stream: 'out', data: 'ok\n' },
      { type: 'finished', unit: assign.unit, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 1, durationMs: 5, tests: [] },
    ];
    const socket = (ws as any)._socket as Socket;
    socket.cork();
    for (const f of frames) ws.send(JSON.stringify(f));
    socket.uncork();
    await pollUntil(() => inbox.some((m) => m.type === 'ackFinished'), 'ackFinished', 15_000);
    const unit = server.store.units.get(assign.unit)!;
    expect([unit.state, unit.result, unit.logBytes, unit.startedAt !== null]).to.deep.equal(['done', 'passed', 3, true]);
    // started, the chunk and the unit's end (with the build's end it brings) in one commit; the work after it
    // (the build's notifications, the next dispatch) may commit on its own.
    const commits = walCommits(dbFile) - before;
    expect(inbox.slice(-2).map((m) => m.type)).to.deep.equal(['ack', 'ackFinished']);
    expect(commits, 'commits for one burst').to.equal(1);
    ws.close();
  });

  it('answers a burst it could not store (the database busy) frame by frame as one frame: retry, nothing acked, then stores the resend once', async () => {
    const ws = await connect(server);
    const inbox: any[] = [];
    ws.on('message', (d) => inbox.push(JSON.parse(d.toString())));
    ws.send(hello());
    const assign = await pollUntil(() => inbox.find((m) => m.type === 'assign'), 'an assign', 15_000);
    const log = { type: 'log', unit: assign.unit, seq: 0, offset: 0, stream: 'out', data: 'ok\n' };
    const finished = { type: 'finished', unit: assign.unit, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 1, durationMs: 5, tests: [] };
    const burst = (frames: object[]) => {
      const socket = (ws as any)._socket as Socket;
      socket.cork();
      for (const f of frames) ws.send(JSON.stringify(f));
      socket.uncork();
    };
    const other = new Database(server.store.db.name); // another process's connection holding the write lock
    try {
      other.exec('BEGIN IMMEDIATE');
      burst([{ type: 'started', unit: assign.unit, at: Date.now() }, log, finished]);
      await pollUntil(() => inbox.filter((m) => m.type === 'retry').length === 2, 'two retries', 15_000);
      expect(inbox.filter((m) => m.type === 'ack' || m.type === 'ackFinished')).to.deep.equal([]);
      expect(inbox.filter((m) => m.type === 'retry').map((m) => [m.unit, m.afterMs])).to.deep.equal([[assign.unit, 1000], [assign.unit, 1000]]);
      expect(server.store.units.get(assign.unit)).to.include({ state: 'running', logBytes: 0, startedAt: null });
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
    burst([log, finished]);
    await pollUntil(() => inbox.some((m) => m.type === 'ackFinished'), 'ackFinished', 15_000);
    expect(inbox.slice(-2).map((m) => m.type)).to.deep.equal(['ack', 'ackFinished']);
    expect(server.store.units.get(assign.unit)).to.include({ state: 'done', result: 'passed', logBytes: 3 });
    ws.close();
  });
});
