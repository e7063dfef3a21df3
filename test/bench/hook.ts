/**
 * Benchmark of the pre-receive hook's verdict: process start to exit, the hook invoked the way
 * git invokes it (`sh hooks/pre-receive` in the bare repository, GIT_DIR set, "OLD NEW REF" on
 * stdin). Not a test: `node dist/test/bench/hook.js` builds a bare repository with a 10-commit
 * range, points its hooks at a stub gate server (startGateStub, also used by
 * test/server/gate/hooks.test.ts) and prints p50/p90/p99/max. measureHook() is reusable against a
 * real server: install the hooks with installHooks(), then measure.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { answerGate, type BranchGate, type GateVerdict } from '../../server/gate/rules.js';
import type { GateRequest } from '../../server/gate/request.js';
import { checkedQuarantine, proveReverts } from '../../server/exactRevert.js';
import { installHooks } from '../../server/gate/hookInstall.js';
import { ServerProcess, writeConfig } from '../helpers.js';
import { HOOK_SECRET_HEADER } from '../../server/gate/hookSecret.js';
import { GATED_HEADER, gatedHeaderValue } from '../../server/web/treeApi.js';

export interface HookTimes { p50: number; p90: number; p99: number; max: number; samples: number[]; failures: number }

const WARMUP_RUNS = 3; // not counted: the first runs fill the page cache

/**
 * Runs the bare repository's pre-receive hook `n` times, one after another (after WARMUP_RUNS
 * uncounted runs); times in ms. `failures` counts runs that exited non-zero (a refused push).
 */
export async function measureHook(opts: { bareRepo: string; old: string; new: string; ref: string; n: number }): Promise<HookTimes> {
  const hook = join(opts.bareRepo, 'hooks', 'pre-receive');
  const stdin = `${opts.old} ${opts.new} ${opts.ref}\n`;
  const env = { ...process.env, GIT_DIR: '.' };
  const samples: number[] = [];
  let failures = 0;
  for (let i = -WARMUP_RUNS; i < opts.n; i++) {
    const { ms, code } = await timeProcess('sh', [hook], { cwd: opts.bareRepo, env, stdin });
    if (i < 0) continue;
    samples.push(ms);
    if (code !== 0) failures++;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1], samples, failures };
}

function timeProcess(cmd: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; stdin: string }): Promise<{ ms: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.stdin.on('error', () => {}); // a hook may exit without reading its stdin
    child.on('exit', (code) => resolve({ ms: performance.now() - start, code }));
    child.stdin.end(o.stdin);
  });
}

/** What the stub saw of one gate request. */
export interface GateCall { repo: string; status: number; request: GateRequest | null; verdict: GateVerdict | null; text: string; secret: string | null }
export interface ChangeCall { repo: string | null; pusher: string | null; contentType: string | null; body: string; secret: string | null }

/** A stand-in for the far end of the hooks' protocol: parses with parseGateRequest, answers with decideGate. */
export interface GateStub {
  url: string;
  table: Map<string, BranchGate>; // branch → gate state; a branch not in the table is not gated
  gateCalls: GateCall[];
  changes: ChangeCall[];
  hold: boolean; // park gate requests unanswered (until close), to prove the hook gives up by itself
  held: number; // gate requests parked by hold
  httpError: { status: number; body: string } | null; // answer gate requests with this instead
  close(): Promise<void>;
}

export const UNGATED: BranchGate = { gated: false, state: 'open', reason: null, message: null, since: null, build: null };

export async function startGateStub(): Promise<GateStub> {
  const server = createServer((req, res) => {
    readBody(req).then((body) => handle(stub, req, res, body), () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const stub: GateStub = {
    url: `http://127.0.0.1:${port}`,
    table: new Map(),
    gateCalls: [],
    changes: [],
    hold: false,
    held: 0,
    httpError: null,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return stub;
}

function handle(stub: GateStub, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://stub');
  const gate = /^\/api\/gate\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'POST' && gate) {
    const answer = async () => {
      const repo = decodeURIComponent(gate[1]);
      const secret = req.headers[HOOK_SECRET_HEADER]?.toString() ?? null;
      if (stub.httpError) {
        stub.gateCalls.push({ repo, status: stub.httpError.status, request: null, verdict: null, text: stub.httpError.body, secret });
        return send(res, stub.httpError.status, stub.httpError.body);
      }
      // Reverts are proven as the server proves them: in the pushing repository, through the hook's quarantine.
      const result = await answerGate(body, (branch) => stub.table.get(branch) ?? UNGATED, (update, allowed, request) => {
        const bare = request.quarantine ? dirname(dirname(request.quarantine)) : null;
        return bare ? proveReverts({ bare, quarantine: checkedQuarantine(bare, request.quarantine) }, update.commits, allowed) : Promise.resolve(new Map());
      });
      stub.gateCalls.push({ repo, status: result.status, request: result.request, verdict: result.verdict, text: result.text, secret });
      const gated = [...stub.table].filter(([, g]) => g.gated).map(([branch]) => branch);
      send(res, result.status, result.text, { [GATED_HEADER]: gatedHeaderValue(gated) });
    };
    if (!stub.hold) return void answer();
    stub.held++;
    return;
  }
  if (req.method === 'POST' && url.pathname === '/api/changes') {
    stub.changes.push({
      repo: url.searchParams.get('repo'),
      pusher: req.headers['x-greengate-pusher']?.toString() ?? null,
      contentType: req.headers['content-type'] ?? null,
      body: body.toString('utf8'),
      secret: req.headers[HOOK_SECRET_HEADER]?.toString() ?? null,
    });
    return send(res, 202, '');
  }
  send(res, 404, 'not found\n');
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A bare repository whose main is at `old`, with the `count` commits of old..new stored. */
export function makeBenchRepo(root: string, count: number): { bareRepo: string; old: string; new: string } {
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Bench',
    GIT_AUTHOR_EMAIL: 'bench@example.com',
    GIT_COMMITTER_NAME: 'Bench',
    GIT_COMMITTER_EMAIL: 'bench@example.com',
  };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: 'pipe' }).trim();
  const bareRepo = join(root, 'shop.git');
  const work = join(root, 'work');
  git(root, 'init', '-q', '--bare', '-b', 'main', bareRepo);
  git(root, 'init', '-q', '-b', 'main', work);
  git(work, 'commit', '-q', '--allow-empty', '-m', 'base');
  const old = git(work, 'rev-parse', 'HEAD');
  for (let i = 1; i <= count; i++) {
    git(work, 'commit', '-q', '--allow-empty', '-m', `Change ${i}\n\nA body line for change ${i}.`);
  }
  const neu = git(work, 'rev-parse', 'HEAD');
  git(work, 'push', '-q', bareRepo, `${old}:refs/heads/main`, `${neu}:refs/bench/new`);
  return { bareRepo, old, new: neu };
}

/**
 * `--burst N`: N pre-receive hooks at once (N pushes arriving together), against a real
 * `greengate serve` process on this machine, ROUNDS times (BENCH_ROUNDS, default 5). Prints the
 * verdict's p50/p90/p99/max over all hooks: what greengate.timeout must stay well above.
 */
async function burst(n: number, rounds: number): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'greengate-hook-burst-'));
  const repo = makeBenchRepo(root, 10);
  const config = writeConfig(root, [{ name: 'shop', path: repo.bareRepo, gate: ['main'], builders: [{ name: 'unit', run: 'true' }] }]);
  const server = await new ServerProcess(config).start();
  try {
    installHooks(repo.bareRepo, { server: server.url, repo: 'shop', gated: ['main'] });
    execFileSync('git', ['--git-dir', repo.bareRepo, 'config', 'greengate.timeout', '120']); // measure, never time out
    const hook = join(repo.bareRepo, 'hooks', 'pre-receive');
    const env = { ...process.env, GIT_DIR: '.' };
    const stdin = `${repo.old} ${repo.new} refs/heads/main\n`;
    await timeProcess('sh', [hook], { cwd: repo.bareRepo, env, stdin }); // warm-up
    const samples: number[] = [];
    const roundMs: number[] = [];
    let failures = 0;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: n }, () => timeProcess('sh', [hook], { cwd: repo.bareRepo, env, stdin })));
      roundMs.push(performance.now() - t0);
      for (const run of runs) {
        samples.push(run.ms);
        if (run.code !== 0) failures++;
      }
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
    const t = { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]) };
    console.log(`pre-receive verdict under a burst of ${n} at once, ${rounds} rounds, real server (ms): ` +
      `p50 ${t.p50}  p90 ${t.p90}  p99 ${t.p99}  max ${t.max}  failures ${failures}`);
    console.log(JSON.stringify({ burst: n, rounds, cores: availableParallelism(), verdict: t, failures, roundMs: roundMs.map(round) }));
  } finally {
    await server.kill();
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const burstAt = process.argv.indexOf('--burst');
  if (burstAt >= 0) return burst(Number(process.argv[burstAt + 1] ?? 50), Number(process.env.BENCH_ROUNDS ?? 5));
  const n = Number(process.env.BENCH_N ?? 200);
  const root = mkdtempSync(join(tmpdir(), 'greengate-hook-bench-'));
  const stub = await startGateStub();
  try {
    const repo = makeBenchRepo(root, 10);
    installHooks(repo.bareRepo, { server: stub.url, repo: 'shop' });
    stub.table.set('main', { gated: true, state: 'open', reason: null, message: null, since: null, build: null });
    const open = await measureHook({ bareRepo: repo.bareRepo, old: repo.old, new: repo.new, ref: 'refs/heads/main', n });
    const tag = await measureHook({ bareRepo: repo.bareRepo, old: '0'.repeat(40), new: repo.new, ref: 'refs/tags/v1', n });
    const calls = stub.gateCalls.length;
    const rows: [string, HookTimes][] = [['10 commits, open tree', open], ['tag only (no request)', tag]];
    console.log(`pre-receive verdict, process start to exit, n=${n} each (ms)`);
    console.log(`${'case'.padEnd(24)} ${['p50', 'p90', 'p99', 'max'].map((h) => h.padStart(7)).join('')}  failures`);
    for (const [name, t] of rows) {
      console.log(`${name.padEnd(24)} ${[t.p50, t.p90, t.p99, t.max].map((v) => v.toFixed(1).padStart(7)).join('')}  ${t.failures}`);
    }
    const summary = (t: HookTimes) => ({ p50: round(t.p50), p90: round(t.p90), p99: round(t.p99), max: round(t.max), failures: t.failures });
    console.log(JSON.stringify({ n, gateRequests: calls, open10: summary(open), tagOnly: summary(tag), target: { p50: 25, p99: 60 } }));
  } finally {
    await stub.close();
    rmSync(root, { recursive: true, force: true });
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
