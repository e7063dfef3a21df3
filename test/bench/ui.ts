/**
 * `node dist/test/bench/ui.js [--quick]`: figures for the web pages. Not a test: it prints them.
 *
 * 1. Server time to render `/` and `/builds/:id` (the Server-Timing header: queries and template,
 *    measured inside the server) with 200 and with 10,000 builds in the database: an in-process
 *    server on a temporary SQLite file, synthetic pushes inserted through the store modules.
 *    Also the tail of a 100 MB log (`GET /units/:id/log`), cold and warm.
 * 2. Log line → browser: a real `greengate serve` process and runner process; the build prints
 *    "tick <epoch ms>" every 50 ms; the build page in headless Chromium (one tab, in front)
 *    records when each line first appears. Same host clock on both ends.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { chromium } from 'playwright-core';
import { loadConfig } from '../../server/config/config.js';
import { startServer, type RunningServer } from '../../server/main.js';
import type { Store } from '../../server/store/index.js';
import { PageStore } from '../../server/store/pages.js';
import { Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';

const QUICK = process.argv.includes('--quick');
const REQUESTS = QUICK ? 50 : 300;
const TICKS = QUICK ? 60 : 200;
const BUILDERS = ['unit', 'lint', 'e2e'];
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Stats { n: number; p50: number; p95: number; max: number }
export function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
  return { n: s.length, p50: round(q(0.5)), p95: round(q(0.95)), max: round(s[s.length - 1]) };
}
const round = (x: number) => Math.round(x * 100) / 100;

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function get(url: string): Promise<{ status: number; serverMs: number; ms: number; bytes: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => { bytes += d.length; });
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, bytes, ms: performance.now() - t0,
        serverMs: Number(/dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''))?.[1] ?? NaN),
      }));
    }).on('error', reject).end();
  });
}

async function timePage(url: string, n = REQUESTS): Promise<{ server: Stats; roundTrip: Stats; bytes: number }> {
  for (let i = 0; i < 20; i++) await get(url); // warm-up: caches, JIT
  const server: number[] = [];
  const trip: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = await get(url);
    if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`);
    server.push(r.serverMs);
    trip.push(r.ms);
    bytes = r.bytes;
  }
  return { server: stats(server), roundTrip: stats(trip), bytes };
}

function timeRankings(store: Store): Stats {
  const pages = new PageStore(store.db);
  const xs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    pages.testRankings(50);
    xs.push(performance.now() - t0);
  }
  return stats(xs);
}

/** Synthetic pushes: a commit, a change, one build per builder with 2 units, 10 tests per unit; logs for the newest. */
export function insertPushes(store: Store, repoId: number, runnerId: number, pushes: number, withLogs: boolean): number {
  let lastBuild = 0;
  store.tx(() => {
    const base = store.builds.count();
    for (let p = 0; p < pushes; p++) {
      const i = base + p;
      const sha = (i.toString(16) + 'f'.repeat(40)).slice(0, 40);
      const at = Date.now() - (pushes - p) * 60_000;
      store.repos.saveCommits(repoId, [{ sha, author: `Dev ${i % 17}`, email: 'dev@example.com', subject: `Change number ${i}: tweak the cart`, committedAt: at }]);
      const changeId = store.repos.recordChange({ repoId, ref: 'refs/heads/main', branch: 'main', kind: 'branch', oldSha: null, newSha: sha, source: 'api', pusher: 'dev', at });
      for (const builder of BUILDERS) {
        const id = store.builds.create({ repoId, builder, ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha, baseSha: null, changeId, pushedAt: at, at, blamelist: [sha] });
        const failed = i % 23 === 0 && builder === 'unit';
        for (let u = 1; u <= 2; u++) {
          const files = Array.from({ length: 5 }, (_, f) => `test/part${u}/file${f}.test.js`);
          const unit = store.units.create({ buildId: id, seq: u, files, attempt: 1, retryOf: null, priority: 0, expectedMs: 2000, avoidRunnerId: null, lostCount: 0, at });
          store.units.assign(unit, runnerId, at);
          store.units.markStarted(unit, at);
          if (withLogs) {
            for (let c = 0; c < 4; c++) {
              const data = Array.from({ length: 60 }, (_, l) => `\x1b[32mok\x1b[0m ${c * 60 + l} cart adds item ${l} (12 ms)\n`).join('');
              store.logs.append({ unitId: unit, seq: c, offset: c * Buffer.byteLength(data), stream: 'out', data, at });
              store.units.addLogBytes(unit, Buffer.byteLength(data));
            }
          }
          store.tests.insert({ id, repoId, builder }, unit, 1, Array.from({ length: 10 }, (_, t) => ({
            name: `adds item ${t}`, classname: `cart part ${u}`, file: files[t % 5], durationMs: 10 + ((i * 7 + t) % 90),
            status: failed && t === 3 ? 'failed' as const : 'passed' as const, message: failed && t === 3 ? 'expected 2, got 3' : null,
          })), at);
          store.units.finish(unit, { result: failed && u === 1 ? 'failed' : 'passed', exitCode: failed && u === 1 ? 1 : 0, signal: null, error: null, at: at + 2000 });
        }
        store.builds.markStarted(id, at);
        store.builds.setProgress(id, 2, 2, 0);
        store.builds.finish(id, failed ? 'failed' : 'passed', failed ? '1 of 2 units failed' : null, at + 2500);
        lastBuild = id;
      }
    }
  });
  return lastBuild;
}

/** A 100 MB log: 1,600 chunks of 64 KiB, 100-byte lines. */
function insertHugeLog(store: Store, buildId: number, runnerId: number): number {
  const unit = store.units.create({ buildId, seq: 3, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0, avoidRunnerId: null, lostCount: 0, at: Date.now() });
  store.units.assign(unit, runnerId, Date.now());
  const line = `${'x'.repeat(90)} 1234567\n`.slice(0, 100);
  const data = line.repeat(64 * 1024 / 100 | 0);
  store.tx(() => {
    for (let seq = 0; seq < 1600; seq++) store.logs.append({ unitId: unit, seq, offset: seq * data.length, stream: 'out', data, at: Date.now() });
    store.units.addLogBytes(unit, 1600 * data.length);
  });
  store.units.finish(unit, { result: 'passed', exitCode: 0, signal: null, error: null, at: Date.now() });
  return unit;
}

export async function measureRender() {
  const home = tempHome('gg-bench-ui-');
  let server: RunningServer | undefined;
  try {
    const repo = new Repo(home.dir);
    const config = loadConfig(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: BUILDERS.map((name) => ({ name, run: 'true' })) }]));
    server = await startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'warn' }) });
    const { store } = server;
    const repoId = store.repos.byName('shop')!.id;
    const runnerId = store.runners.register({ name: 'bench-runner', slots: 4, version: 'bench', address: null, at: Date.now() });
    const out: Record<string, unknown> = {};
    let last = 0;
    for (const target of [200, 10_000]) {
      const pushes = Math.round((target - store.builds.count()) / BUILDERS.length);
      insertPushes(store, repoId, runnerId, Math.max(0, pushes - 10), false);
      last = insertPushes(store, repoId, runnerId, Math.min(10, pushes), true); // the newest builds have logs
      const builds = store.builds.count();
      out[`builds_${target}`] = {
        builds,
        waterfall: await timePage(`${server.url}/`),
        buildPage: await timePage(`${server.url}/builds/${last}`),
        testRankings: timeRankings(store), // what a /tests request costs when its 10-second cache is cold
      };
    }
    const huge = insertHugeLog(store, last, runnerId);
    const cold = await get(`${server.url}/units/${huge}/log`);
    const warm = await timePage(`${server.url}/units/${huge}/log`, QUICK ? 10 : 50);
    out.hugeLogTail = { coldMs: round(cold.ms), warm: warm.roundTrip, bytes: cold.bytes };
    return out;
  } finally {
    await server?.close();
    home.cleanup();
  }
}

/** Runner prints "tick <epoch ms>" every 50 ms; the open build page records each line's arrival. */
export async function measureLogToBrowser(ticks = TICKS): Promise<Stats & { samples: number }> {
  const home = tempHome('gg-bench-live-');
  const go = join(home.dir, 'go');
  const repo = new Repo(home.dir);
  const server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare,
    builders: [{ name: 'ticker', run: 'sh ./tick.sh', timeout: 120,
      sandbox: { readOnly: [home.dir] } }] }])).start(); // tick.sh waits for a file written in this home (units have a private /tmp)
  const runner = startRunner(server.url, 'r1', home.dir);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    repo.commit({ 'tick.sh': `while [ ! -f '${go}' ]; do sleep 0.01; done\ni=0\nwhile [ $i -lt ${ticks} ]; do echo "tick $(date +%s%3N)"; sleep 0.05; i=$((i+1)); done\n` }, 'tick');
    repo.push();
    const build = await pollUntil(async () => (await server.builds())[0], 'the build');
    await pollUntil(async () => (await server.build(build.id)).units.some((u: any) => u.state === 'running'), 'the unit to start', 20_000);
    const page = await browser.newPage();
    await page.goto(`${server.url}/builds/${build.id}`);
    await page.waitForSelector('#live-status.on');
    await page.waitForSelector('pre.log.live');
    await page.evaluate(() => {
      const seen = new Set<string>();
      const delays: number[] = [];
      (window as unknown as { delays: number[] }).delays = delays;
      new MutationObserver(() => {
        const now = Date.now();
        for (const m of document.querySelector('pre.log')!.textContent!.matchAll(/tick (\d{13})/g)) {
          if (seen.has(m[1])) continue;
          seen.add(m[1]);
          delays.push(now - Number(m[1]));
        }
      }).observe(document.querySelector('pre.log')!, { childList: true, subtree: true, characterData: true });
    });
    writeFileSync(go, '');
    await server.waitForBuild(build.id, 60_000);
    const delays = await pollUntil(() => page.evaluate(() => {
      const d = (window as unknown as { delays: number[] }).delays;
      return d.length >= 1 ? d : null;
    }), 'ticks in the page');
    return { ...stats(delays), samples: delays.length };
  } finally {
    await browser.close();
    await stopChild(runner);
    await server.kill();
    home.cleanup();
  }
}

async function main(): Promise<void> {
  const render = await measureRender() as Record<string, any>;
  const live = await measureLogToBrowser();
  const doc = { render, logToBrowser: live };
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n\n');
  const row = (label: string, s: Stats) => `| ${label} | ${s.p50} | ${s.p95} | ${s.n} |`;
  const lines = ['| measure (ms) | median | p95 | n |', '|---|---:|---:|---:|'];
  for (const key of ['builds_200', 'builds_10000']) {
    const r = render[key];
    lines.push(row(`server time \`/\`, ${r.builds} builds`, r.waterfall.server));
    lines.push(row(`server time \`/builds/:id\`, ${r.builds} builds`, r.buildPage.server));
    lines.push(row(`round trip \`/\`, ${r.builds} builds (${Math.round(r.waterfall.bytes / 1024)} KiB)`, r.waterfall.roundTrip));
    lines.push(row(`\`/tests\` rankings query (cached 10 s), ${r.builds * 20} test results`, r.testRankings));
  }
  lines.push(row(`100 MB log: tail request, warm (cold: ${render.hugeLogTail.coldMs} ms)`, render.hugeLogTail.warm));
  lines.push(row(`log line printed → shown in the browser (${live.samples} lines)`, live));
  process.stdout.write(lines.join('\n') + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(() => process.exit(0), (err) => { process.stderr.write(`${err.stack ?? err}\n`); process.exit(1); });
}
