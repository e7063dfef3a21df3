import { expect } from 'chai';
import WebSocket from 'ws';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningServer } from '../../../server/main.js';
import { MARKER_ROOM_BYTES, PROTOCOL_VERSION, REDACTED, WS_PATH } from '../../../server/protocol.js';
import { RUNNER_TOKEN, Repo, pollUntil, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';
import { ensureHookSecret } from '../../../server/gate/hookSecret.js';

/** A raw WebSocket client playing the runner's end: every frame it gets is kept in `inbox`. */
async function fakeRunner(server: RunningServer, name: string): Promise<{ ws: WebSocket; inbox: any[]; next(type: string): Promise<any> }> {
  const ws = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
  const inbox: any[] = [];
  ws.on('message', (d) => inbox.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name, slots: 1, version: 'test',
    instance: '0123456789abcdef0123456789abcdef', units: [] }));
  let taken = 0;
  return {
    ws, inbox,
    next: (type) => pollUntil(() => {
      const i = inbox.findIndex((m, k) => k >= taken && m.type === type);
      if (i < 0) return null;
      taken = i + 1;
      return inbox[i];
    }, `a "${type}" frame`, 15_000),
  };
}

describe('runner gateway: the log of a unit is redacted, capped and counted before it is stored', function () {
  this.timeout(30_000);
  const DEPLOY_KEY = 'deploy-key-value-77777';
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;
  let repo: Repo;

  beforeEach(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    writeFileSync(join(home.dir, 'deploy_key'), DEPLOY_KEY + '\n');
    repo.commit({ 'a.txt': 'a' }, 'first');
    expect(repo.push().ok).to.equal(true); // no hooks: the start-up scan finds the gated branch
    const config = shopConfig(home.dir, repo, { shop: { gate: ['main'],
      builders: [{ name: 'unit', run: 'true', maxLogBytes: 1024, env: ['NODE_OPTIONS'], secrets: { DEPLOY_KEY: { file: 'deploy_key' } } }] } });
    server = await startShopServer(home.dir, repo, { config });
    await pollUntil(async () => (await (await fetch(`${server.url}/api/builds`)).json()).builds.length === 1, 'the build', 15_000);
  });
  afterEach(async () => {
    await server.close();
    home.cleanup();
  });

  it('sends the secrets, env names and cap with assign, and stores no secret or token a runner sends', async () => {
    const r = await fakeRunner(server, 'fake');
    await r.next('welcome');
    const assign = await r.next('assign');
    expect(assign.builder.secrets).to.deep.equal({ DEPLOY_KEY: DEPLOY_KEY + '\n' });
    expect(assign.builder.env).to.deep.equal(['NODE_OPTIONS']);
    expect(assign.builder.maxLogBytes).to.equal(1024);
    const chunks = [`key=${DEPLOY_KEY}\n`, `token=${RUNNER_TOKEN}\n`];
    chunks.forEach((data, seq) => r.ws.send(JSON.stringify({ type: 'log', unit: assign.unit, seq, offset: 0, stream: 'out', data })));
    r.ws.send(JSON.stringify({ type: 'finished', unit: assign.unit, exitCode: 0, signal: null, timedOut: false, error: null,
      chunks: 2, durationMs: 5, tests: [] }));
    await r.next('ackFinished');
    const log = await (await fetch(`${server.url}/api/units/${assign.unit}/log`)).text();
    expect(log).to.equal(`key=${REDACTED}\ntoken=${REDACTED}\n`);
    const build = await (await fetch(`${server.url}/api/builds/${assign.build}`)).json();
    expect(build.result).to.equal('passed');
    r.ws.close();
  });

  it('stores at most maxLogBytes plus the marker room, acking the rest so the runner can move on', async () => {
    const r = await fakeRunner(server, 'fake');
    const assign = await r.next('assign');
    for (let seq = 0; seq < 6; seq++) {
      r.ws.send(JSON.stringify({ type: 'log', unit: assign.unit, seq, offset: seq * 1000, stream: 'out', data: 'y'.repeat(999) + '\n' }));
    }
    for (let seq = 0; seq < 6; seq++) expect((await r.next('ack')).seq).to.equal(seq);
    r.ws.send(JSON.stringify({ type: 'finished', unit: assign.unit, exitCode: 0, signal: null, timedOut: false, error: null,
      chunks: 6, durationMs: 5, tests: [] }));
    await r.next('ackFinished');
    const log = await (await fetch(`${server.url}/api/units/${assign.unit}/log`)).text();
    const marker = '\n[greengate] log truncated by the server at 1024 bytes (maxLogBytes)\n';
    expect(log.endsWith(marker)).to.equal(true);
    expect(Buffer.byteLength(log)).to.equal(1024 + MARKER_ROOM_BYTES + Buffer.byteLength(marker));
    r.ws.close();
  });

  it('ends a unit whose reported chunk count disagrees with the stored log as exception and runs it again', async () => {
    const r = await fakeRunner(server, 'fake');
    const assign = await r.next('assign');
    r.ws.send(JSON.stringify({ type: 'log', unit: assign.unit, seq: 0, offset: 0, stream: 'out', data: 'only one chunk\n' }));
    r.ws.send(JSON.stringify({ type: 'finished', unit: assign.unit, exitCode: 1, signal: null, timedOut: false, error: null,
      chunks: 3, durationMs: 5, tests: [] }));
    await r.next('ackFinished');
    const build = await pollUntil(async () => {
      const b = await (await fetch(`${server.url}/api/builds/${assign.build}`)).json();
      return b.units.length === 2 ? b : null;
    }, 'the unit to be queued again');
    const first = build.units.find((u: any) => u.id === assign.unit);
    expect(first.result).to.equal('exception');
    expect(first.error).to.match(/log incomplete: the runner reported 3 log chunk\(s\), the server stored 1/);
    expect(build.units.find((u: any) => u.id !== assign.unit).retryOf).to.equal(assign.unit);
    expect(build.result).to.not.equal('failed');
    r.ws.close();
  });
});

describe('runner gateway: whatever a unit reports is redacted with every secret the server holds', function () {
  this.timeout(30_000);
  const DEPLOY_KEY = 'deploy-key-value-77777';
  const VAULT_KEY = 'vault-key-of-another-repository-31337';
  const ADMIN = 'admin-token-for-the-redaction-test';
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  afterEach(async () => {
    await server?.close();
    home?.cleanup();
  });

  it('stores no builder secret (any repository\'s), token or hook secret from a log chunk or any string of finished', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const vault = new Repo(home.dir, 'vault');
    writeFileSync(join(home.dir, 'deploy_key'), DEPLOY_KEY + '\n');
    writeFileSync(join(home.dir, 'vault_key'), VAULT_KEY);
    const hookSecret = ensureHookSecret(repo.bare);
    repo.commit({ 'a.txt': 'a' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const config = shopConfig(home.dir, repo, { top: { adminToken: ADMIN },
      shop: { gate: ['main'], builders: [{ name: 'unit', run: 'true', secrets: { DEPLOY_KEY: { file: 'deploy_key' } } }] },
      more: [{ name: 'vault', path: vault.bare, builders: [{ name: 'unit', run: 'true', secrets: { VAULT_KEY: { file: 'vault_key' } } }] }] });
    server = await startShopServer(home.dir, repo, { config });
    const r = await fakeRunner(server, 'fake');
    const assign = await r.next('assign');
    const all = [DEPLOY_KEY, VAULT_KEY, ADMIN, RUNNER_TOKEN, hookSecret];
    const data = `deploy=${DEPLOY_KEY.slice(0, 8)}\n${DEPLOY_KEY.slice(8)}\nvault=${VAULT_KEY}\nadmin=${Buffer.from(ADMIN).toString('base64')}\n` +
      `runner=${Buffer.from(RUNNER_TOKEN).toString('hex')}\nhook=${hookSecret}\n`;
    r.ws.send(JSON.stringify({ type: 'log', unit: assign.unit, seq: 0, offset: 0, stream: 'out', data }));
    const tests = all.map((s, i) => ({ name: `test ${i} ${s}`, classname: `suite.${s}`, file: `t/${s}.js`, durationMs: 1, status: 'failed',
      message: `expected ${s.slice(0, 7)}\n${s.slice(7)}` }));
    r.ws.send(JSON.stringify({ type: 'finished', unit: assign.unit, exitCode: 1, signal: null, timedOut: false, error: `oops ${VAULT_KEY}`,
      chunks: 1, durationMs: 5, tests, testsError: `report ${ADMIN}.xml is bad`, fileTimes: [{ file: `t/${DEPLOY_KEY}.js`, ms: 1 }] }));
    await r.next('ackFinished');
    const log = await (await fetch(`${server.url}/api/units/${assign.unit}/log`)).text();
    expect(log).to.equal(`deploy=${REDACTED}\n\nvault=${REDACTED}\nadmin=${REDACTED}\nrunner=${REDACTED}\nhook=${REDACTED}\n`);
    const build = await (await fetch(`${server.url}/api/builds/${assign.build}`)).text();
    for (const s of all) expect(build).not.to.contain(s.slice(0, 7)).and.not.to.contain(s.slice(7));
    expect(build).to.contain(`test 1 ${REDACTED}`).and.contain(`suite.${REDACTED}`).and.contain(`expected ${REDACTED}`);
    r.ws.close();
  });
});
