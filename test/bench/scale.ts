/**
 * `npm run bench:scale [-- --quick] [-- --planning]`: the server's cost per unit with many runners.
 * SCALE_N=50,500 picks the runner counts, SCALE_SLOTS=8 the slots of each (default 4).
 * Not a test: it prints a markdown table and a JSON document.
 *
 * For each N (10, 100, 500; `--quick`: 10 and 100): a real `greengate serve` process on
 * loopback with a fresh data folder; N fake runners with 4 slots each in ONE separate process
 * (test/bench/fakeRunners.ts: the real protocol, every unit answered at once); one push of a
 * commit with 2,000 files under test/ to a real bare repository whose builder's `run` is `true`
 * (the fake runners never run it). The push is `git update-ref` followed by the post-receive
 * notice (POST /api/changes), as the hook sends it.
 *
 * Figures:
 * - hello ms: the fake runners' process starts connecting → every runner welcomed;
 * - notice ms: the POST /api/changes round trip (the hook waits for it);
 * - push → first assign: just before update-ref → the first assign a fake runner received;
 * - units/s: units ÷ (first assign → build finished as the server recorded it);
 * - push → finished: just before update-ref → the build's finishedAt;
 * - CPU/unit: the server process's user + system time (/proc/PID/stat) from just before the push
 *   to the build's end (seen by polling /api/builds every POLL_MS), ÷ units finished;
 * - peak RSS: VmHWM of the server process, reset (clear_refs) once the runners are connected;
 * - dropped: fake runners the server closed (by close code) from their welcome until SETTLE_MS
 *   after the build finished (they keep sending heartbeats throughout).
 * With `--planning` only the planner's micro-benchmark (test/bench/planning.ts) runs; it is
 * printed after the table otherwise.
 */
import { ensureHookSecret, HOOK_SECRET_HEADER } from '../../server/gate/hookSecret.js';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RUNNER_TOKEN, ServerProcess, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';
import { measurePlanning, printPlanning } from './planning.js';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PLANNING_ONLY = args.has('--planning');
const COUNTS = process.env.SCALE_N ? process.env.SCALE_N.split(',').map(Number) : QUICK ? [10, 100] : [10, 100, 500];
const SLOTS = Number(process.env.SCALE_SLOTS ?? 4);
const FILES = 2_000;
const POLL_MS = 250;
const SETTLE_MS = 5_000; // after the build, time for a wrongly judged runner to be dropped
const BUILD_TIMEOUT_MS = 900_000; // 15 minutes: a shared, busy machine is slow
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const FAKE = fileURLToPath(new URL('./fakeRunners.js', import.meta.url));

export interface ScaleFigures {
  runners: number; slots: number; units: number; result: string; helloMs: number; noticeMs: number;
  pushToFirstAssignMs: number; unitsPerSecond: number; pushToFinishedMs: number; cpuMsPerUnit: number;
  peakRssMiB: number; dropped: number; droppedCodes: Record<string, number>;
}

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime, stime (fields 14, 15)
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

/** A bare repository holding one commit with FILES files under test/ (written as trees, no work tree). */
function makeRepo(home: string): { bare: string; sha: string } {
  const bare = join(home, 'git', 'scale.git');
  mkdirSync(bare, { recursive: true });
  const git = (argv: string[], input?: string) => execFileSync('git', ['--git-dir', bare, ...argv], {
    input, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'b@x' },
  }).trim();
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  const blob = git(['hash-object', '-w', '--stdin'], 'import "node:test";\n');
  const entries = Array.from({ length: FILES }, (_, i) => `100644 blob ${blob}\tf${String(i).padStart(4, '0')}.test.js`);
  const testTree = git(['mktree'], entries.join('\n') + '\n');
  const readme = git(['hash-object', '-w', '--stdin'], 'scale bench\n');
  const top = git(['mktree'], `100644 blob ${readme}\tREADME\n040000 tree ${testTree}\ttest\n`);
  return { bare, sha: git(['commit-tree', top, '-m', `${FILES} test files`]) };
}

class FakeRunners {
  readonly child: ChildProcess;
  private readonly waiters: { type: string; resolve(m: any): void }[] = [];
  private readonly seen = new Map<string, any>();
  constructor() {
    this.child = fork(FAKE, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: any) => {
      this.seen.set(m.type, m);
      for (const w of this.waiters.filter((x) => x.type === m.type)) { w.resolve(m); this.waiters.splice(this.waiters.indexOf(w), 1); }
    });
  }
  next(type: string, fresh = false): Promise<any> {
    if (!fresh && this.seen.has(type)) return Promise.resolve(this.seen.get(type));
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }
  send(m: unknown): void { this.child.send(m as any); }
  async report(): Promise<any> { const r = this.next('report', true); this.send({ type: 'report' }); return r; }
}

async function measure(n: number): Promise<ScaleFigures> {
  const home = tempHome('gg-bench-scale-');
  const say = (s: string) => process.stderr.write(`bench:scale N=${n}: ${s}\n`);
  const { bare, sha } = makeRepo(home.dir);
  const server = await new ServerProcess(writeConfig(home.dir, [
    { name: 'scale', path: bare, gate: [], builders: [{ name: 'unit', tests: 'test/*.test.js', run: 'true' }] },
  ])).start();
  const pid = server.child.pid!;
  const fakes = new FakeRunners();
  try {
    fakes.send({ type: 'start', server: server.url, token: RUNNER_TOKEN, count: n, slots: SLOTS, prefix: 'fake-' });
    const connected = await Promise.race([fakes.next('connected'),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`not every runner was welcomed within 120 s`)), 120_000).unref())]) as { ms: number };
    await pollUntil(async () => (await server.api('/healthz')).runners === n, `the server to count ${n} runners`, 60_000);
    say(`${n} runners welcomed in ${connected.ms} ms`);
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const cpu0 = cpuMs(pid);
    const tPush = Date.now();
    execFileSync('git', ['--git-dir', bare, 'update-ref', 'refs/heads/main', sha]);
    const t0 = performance.now();
    await server.api('/api/changes?repo=scale', { method: 'POST', headers: { 'content-type': 'text/plain', [HOOK_SECRET_HEADER]: ensureHookSecret(bare) }, body: `${'0'.repeat(40)} ${sha} refs/heads/main\n` });
    const noticeMs = Math.round(performance.now() - t0);
    const build = await pollUntil(async () => (await server.builds('repo=scale&limit=1')).find((b) => b.sha === sha && b.state === 'done'),
      'the build to finish', BUILD_TIMEOUT_MS, POLL_MS);
    const cpu1 = cpuMs(pid);
    const rss = peakRssMiB(pid);
    say(`build ${build.id} ${build.result} after ${build.finishedAt - tPush} ms; settling ${SETTLE_MS} ms`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const report = await fakes.report();
    const firstAssignAt = (await fakes.next('assign')).at as number;
    const units = build.progress.unitsTotal as number;
    const dropped = Object.values(report.dropped as Record<string, number>).reduce((a, b) => a + b, 0);
    const row: ScaleFigures = {
      runners: n, slots: n * SLOTS, units, result: build.result, helloMs: connected.ms, noticeMs,
      pushToFirstAssignMs: firstAssignAt - tPush,
      unitsPerSecond: Math.round(units / Math.max(0.001, (build.finishedAt - firstAssignAt) / 1000)),
      pushToFinishedMs: build.finishedAt - tPush,
      cpuMsPerUnit: Number(((cpu1 - cpu0) / Math.max(1, report.finished)).toFixed(2)),
      peakRssMiB: rss, dropped, droppedCodes: report.dropped,
    };
    say(JSON.stringify(row));
    return row;
  } catch (err) {
    const exited = server.child.exitCode ?? server.child.signalCode;
    const report = await Promise.race([fakes.report(), new Promise((r) => setTimeout(() => r(null), 5000))]);
    say(`FAILED: ${(err as Error).message}; server ${exited === null ? 'still running' : `exited (${exited})`}; ` +
      `fake runners: ${JSON.stringify(report)}\nserver output (tail):\n${server.output.slice(-3000)}`);
    throw err;
  } finally {
    fakes.send({ type: 'stop' });
    await stopChild(fakes.child);
    await server.kill();
    home.cleanup();
  }
}

function printTable(rows: ScaleFigures[]): void {
  console.log('| runners (slots) | units | result | hello ms | notice ms | push → first assign ms | units/s | push → finished ms | server CPU ms/unit | peak RSS MiB | dropped |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const codes = Object.entries(r.droppedCodes).map(([c, k]) => `${k}×${c}`).join(', ');
    console.log(`| ${r.runners} fake (${r.slots}) | ${r.units} | ${r.result} | ${r.helloMs} | ${r.noticeMs} | ${r.pushToFirstAssignMs} | ` +
      `${r.unitsPerSecond} | ${r.pushToFinishedMs} | ${r.cpuMsPerUnit} | ${r.peakRssMiB} | ${r.dropped}${codes ? ` (${codes})` : ''} |`);
  }
}

async function main(): Promise<void> {
  const planning = measurePlanning();
  const rows: ScaleFigures[] = [];
  const failures: string[] = [];
  if (!PLANNING_ONLY) {
    for (const n of COUNTS) {
      try {
        rows.push(await measure(n));
      } catch (err) {
        failures.push(`N=${n}: ${(err as Error).message}`);
      }
    }
  }
  if (rows.length) printTable(rows);
  printPlanning(planning);
  console.log(JSON.stringify({ bench: 'scale', started: new Date().toISOString(), host: { cpus: cpus().length, node: process.version },
    files: FILES, slotsPerRunner: SLOTS, runs: rows, failures, planning }));
  if (failures.length) throw new Error(`runs failed: ${failures.join('; ')}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
