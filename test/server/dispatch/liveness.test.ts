import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { RunnerGateway } from '../../../server/dispatch/gateway.js';
import { RunnerRegistry } from '../../../server/dispatch/registry.js';
import { BuildLifecycle } from '../../../server/results/lifecycle.js';
import { Tree } from '../../../server/gate/tree.js';
import { StorageHealth } from '../../../server/storageHealth.js';
import { tmpdir } from 'node:os';
import { parseConfig } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { Events } from '../../../server/events.js';
import { CloseCode, PROTOCOL_VERSION, WS_PATH } from '../../../server/protocol.js';
import { ROOT, RUNNER_TOKEN, pollUntil, stopChild } from '../../helpers.js';

const LOST_AFTER_MS = 1_500; // the gateway under test judges in 1.5 s instead of 15

/**
 * A raw runner client in its own process (its event loop keeps running while the server's is
 * blocked): hello, then a heartbeat every `every` ms (never, when 0); `autoPong` false makes it
 * ignore pings. Prints "welcome" and "closed CODE".
 */
function rawRunner(url: string, name: string, every: number, autoPong: boolean): ChildProcess & { output: string } {
  const script = `
    import WebSocket from 'ws';
    const ws = new WebSocket(${JSON.stringify(url)}, { autoPong: ${autoPong} });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: ${PROTOCOL_VERSION}, token: ${JSON.stringify(RUNNER_TOKEN)},
      name: ${JSON.stringify(name)}, slots: 1, version: 'raw', units: [] })));
    ws.on('message', (d) => {
      if (JSON.parse(d.toString()).type !== 'welcome') return;
      console.log('welcome');
      if (${every} > 0) setInterval(() => ws.send('{"type":"heartbeat"}'), ${every});
    });
    ws.on('close', (code) => { console.log('closed ' + code); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: string };
  child.output = '';
  child.stdout!.on('data', (d) => { child.output += d; });
  child.stderr!.on('data', (d) => { child.output += d; });
  return child;
}

/** Keeps this process's event loop busy (no I/O, no timers) for ms. */
function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* busy, like a backlog of messages being handled */ }
}

describe('runner gateway: liveness judged by arrival', function () {
  this.timeout(30_000);
  let store: Store;
  let runners: RunnerRegistry;
  let health: StorageHealth;
  let gateway: RunnerGateway;
  let http: Server;
  let url: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    const config = parseConfig(`
runnerToken: ${RUNNER_TOKEN}
repositories: []
`, { baseDir: ROOT });
    const log = pino({ level: 'silent' });
    store = openStore(':memory:');
    const events = new Events();
    const lifecycle = new BuildLifecycle(store, config, new Tree(store, config, events, log, () => ''), events, log);
    runners = new RunnerRegistry(store, lifecycle, events, log);
    health = new StorageHealth(store, tmpdir(), log);
    gateway = new RunnerGateway(store, runners, lifecycle, RUNNER_TOKEN, log, health, LOST_AFTER_MS);
    http = createServer((_req, res) => res.writeHead(404).end());
    http.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}${WS_PATH}`;
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c)));
    gateway.close();
    health.close();
    await new Promise((resolve) => http.close(resolve));
    store.close();
  });

  const names = () => runners.connected().map((r) => r.name).sort();

  it('keeps a runner that keeps sending while the server is too busy to read it, and drops a silent one', async () => {
    const talker = rawRunner(url, 'talker', 200, true);
    const mute = rawRunner(url, 'mute', 0, false);
    children.push(talker, mute);
    await pollUntil(() => names().length === 2, 'both runners to be welcomed', 10_000);

    // Three stretches of a blocked loop, each twice as long as a runner may be silent, with
    // barely a breath between them: the talker's heartbeats wait unread in the socket.
    for (let i = 0; i < 3; i += 1) {
      blockFor(2 * LOST_AFTER_MS);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // The mute runner (no heartbeats, no pongs) is dropped once the loop runs normally again…
    await pollUntil(() => /closed 4004/.test(mute.output), 'the mute runner to be closed as silent', 10_000);
    // …and the talker never was.
    expect(talker.output).to.not.contain('closed');
    expect(names()).to.deep.equal(['talker']);
  });

  it('counts an answered ping as life: a runner that sends nothing but answers pings stays', async () => {
    const quiet = rawRunner(url, 'quiet', 0, true);
    children.push(quiet);
    await pollUntil(() => names().length === 1, 'the runner to be welcomed', 10_000);
    const since = Date.now();
    await pollUntil(() => Date.now() - since > 3 * LOST_AFTER_MS, 'three loss periods to pass', 10_000, 100);
    expect(quiet.output).to.not.contain('closed');
    expect(names()).to.deep.equal(['quiet']);
  });

  it('drops a frozen runner although the wall clock steps back an hour (liveness runs on a monotonic clock)', async () => {
    const frozen = rawRunner(url, 'frozen', 0, false);
    children.push(frozen);
    await pollUntil(() => names().length === 1, 'the runner to be welcomed', 10_000);
    // Only the clock is faked: the wall clock jumps back one hour (an NTP step, `date -s`).
    const realNow = Date.now;
    Date.now = () => realNow.call(Date) - 3_600_000;
    try {
      await pollUntil(() => /closed 4004/.test(frozen.output), 'the frozen runner to be closed as silent', 4 * LOST_AFTER_MS);
    } finally {
      Date.now = realNow;
    }
    expect(names()).to.deep.equal([]);
  });

  it('still refuses a runner without the token (4001) before any liveness applies', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      import WebSocket from 'ws';
      const ws = new WebSocket(${JSON.stringify(url)});
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: ${PROTOCOL_VERSION}, token: 'wrong-token', name: 'x', slots: 1, version: 'raw' })));
      ws.on('close', (code) => { console.log('closed ' + code); process.exit(0); });`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d) => { output += d; });
    await pollUntil(() => output.includes('closed'), 'the refusal', 10_000);
    expect(output.trim()).to.equal(`closed ${CloseCode.unauthorized}`);
    expect(names()).to.deep.equal([]);
  });
});
