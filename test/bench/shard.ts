/**
 * Benchmark of test sharding: `npm run bench:shard` (node dist/test/bench/shard.js). Not a
 * test: it prints figures. A real `greengate serve` process, two runner processes with 2 slots
 * each, real git pushes (the ref watcher notices them).
 *
 * The suite: 40 test files of known, skewed durations from 50 ms to 3 s (log-uniform, seeded),
 * each a shell script that sleeps; `run.sh` runs the unit's files one after another and writes
 * a JUnit report with each file's measured time (so the queue learns per file).
 *
 * Scenarios, each on its own repository so the builds never share the runners:
 * - dynamic, known: after one warm-up build (durations unknown: it is where they are learned),
 *   builds of commits that leave every duration as it was;
 * - dynamic, noisy: every file's sleep is its duration × (1 ± 30 %), drawn anew for every build
 *   from a seed and written into the commit (the queue plans on what it learned before);
 * - static: `split: static`, the naive equal-count split (one batch of 10 files per slot, in
 *   name order), run for real after its own warm-up build, on the known and the first noisy
 *   durations.
 *
 * Figures per build: makespan = first unit start → last unit finish (the API's unit
 * timestamps: start as the runner reported it, finish as the server recorded it, same host);
 * bound = max(longest file, total ÷ slots) on that build's actual sleeps; ratio = makespan ÷
 * bound; net ratio = (makespan − 150 ms) ÷ bound, the target allowing 150 ms of fixed overhead;
 * push → finished = just before `git push` to the build's finish as the server recorded it.
 * Targets: net ratio ≤ 1.05 with known durations, ≤ 1.15 with noise.
 *
 * Options (environment): SHARD_KNOWN (builds, default 2), SHARD_NOISY (default 3), SHARD_SEED
 * (the suite, default 1).
 */
import { pathToFileURL } from 'node:url';
import { Repo, ServerProcess, seededRandom, pollUntil, startRunner, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';

const FILES = 40;
const RUNNERS = 2;
const SLOTS_PER_RUNNER = 2;
const SLOTS = RUNNERS * SLOTS_PER_RUNNER;
const NOISE = 0.3; // ±30 %
const OVERHEAD_ALLOWANCE_MS = 150;
const TARGET = { known: 1.05, noisy: 1.15 } as const;

/** Runs each file given and writes junit.xml with one test case per file (its own time, its file). */
const RUN_SH = `#!/bin/sh
status=0
{
  echo '<?xml version="1.0" encoding="utf-8"?>'
  echo '<testsuites><testsuite name="bench">'
  for f in "$@"; do
    start=$(date +%s%N)
    if sh "$f"; then failure=''; else failure='<failure message="exited non-zero"/>'; status=1; fi
    us=$(( ($(date +%s%N) - start) / 1000 ))
    printf '<testcase name="%s" classname="bench" file="%s" time="%d.%06d">%s</testcase>\\n' "$f" "$f" $((us / 1000000)) $((us % 1000000)) "$failure"
  done
  echo '</testsuite></testsuites>'
} > junit.xml
exit $status
`;

/** File → ms, log-uniform from 50 ms to 3 s. */
function makeSuite(seed: number): Map<string, number> {
  const random = seededRandom(seed);
  return new Map(Array.from({ length: FILES }, (_, i) => [`suite/f${String(i).padStart(2, '0')}.test.sh`, Math.round(50 * 60 ** random())]));
}

function addNoise(suite: Map<string, number>, seed: number): Map<string, number> {
  const random = seededRandom(seed);
  return new Map([...suite].map(([file, ms]) => [file, Math.round(ms * (1 + NOISE * (2 * random() - 1)))]));
}

function filesFor(durations: Map<string, number>, round: string): Record<string, string> {
  const files: Record<string, string> = { 'run.sh': RUN_SH, ROUND: `${round}\n` };
  for (const [file, ms] of durations) files[file] = `sleep ${(ms / 1000).toFixed(3)}\n`;
  return files;
}

function lowerBound(durations: Map<string, number>): number {
  const values = [...durations.values()];
  return Math.max(Math.max(...values), values.reduce((a, b) => a + b, 0) / SLOTS);
}

interface Figures {
  scenario: string; build: number; result: string; units: number; makespanMs: number; boundMs: number;
  ratio: number; netRatio: number; target: number; pushToFinishedMs: number;
  /** Mean per unit: its start → finish less its files' JUnit times (process starts, report, messages). */
  unitOverheadMs: number;
  /** Mean per unit after a runner's first: the runner's last finish before it → its start (dispatch, checkout). */
  gapMs: number;
}

interface UnitTimes { id: number; runner: string; startedAt: number; finishedAt: number }

function measureOverheads(units: UnitTimes[], tests: { unitId: number; durationMs: number }[]): { unitOverheadMs: number; gapMs: number } {
  const junit = new Map<number, number>();
  for (const t of tests) junit.set(t.unitId, (junit.get(t.unitId) ?? 0) + t.durationMs);
  const overheads = units.map((u) => u.finishedAt - u.startedAt - (junit.get(u.id) ?? 0));
  const gaps: number[] = [];
  for (const u of units) {
    const before = units.filter((o) => o.runner === u.runner && o !== u && o.finishedAt <= u.startedAt).map((o) => o.finishedAt);
    if (before.length) gaps.push(u.startedAt - Math.max(...before));
  }
  const mean = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : 0);
  return { unitOverheadMs: mean(overheads), gapMs: mean(gaps) };
}

async function measure(server: ServerProcess, repo: Repo, scenario: string, durations: Map<string, number>, round: string,
  target: number): Promise<Figures> {
  const before = (await server.builds(`repo=${repo.name}&limit=1`))[0]?.id ?? 0;
  repo.commit(filesFor(durations, round), round);
  const pushedAt = Date.now();
  const pushed = repo.push();
  if (!pushed.ok) throw new Error(`push to ${repo.name} failed: ${pushed.output}`);
  const created = await pollUntil(async () => (await server.builds(`repo=${repo.name}&limit=1`)).find((b) => b.id > before), 'the build to be created');
  const build = await server.waitForBuild(created.id, 120_000);
  const units = build.units as UnitTimes[];
  const makespanMs = Math.max(...units.map((u) => u.finishedAt)) - Math.min(...units.map((u) => u.startedAt));
  const boundMs = lowerBound(durations);
  return {
    scenario, build: build.id, result: build.result, units: units.length, makespanMs, boundMs: Math.round(boundMs),
    ratio: makespanMs / boundMs, netRatio: (makespanMs - OVERHEAD_ALLOWANCE_MS) / boundMs, target,
    pushToFinishedMs: build.finishedAt - pushedAt, ...measureOverheads(units, build.tests),
  };
}

function printTable(rows: Figures[]): void {
  const head = ['scenario', 'units', 'makespan ms', 'bound ms', 'ratio', 'net ratio', 'target', 'ok', 'push→finished ms',
    'unit overhead ms', 'gap ms'];
  const lines = rows.map((r) => [r.scenario, String(r.units), String(r.makespanMs), String(r.boundMs), r.ratio.toFixed(3),
    r.netRatio.toFixed(3), Number.isFinite(r.target) ? `≤ ${r.target.toFixed(2)}` : '-',
    Number.isFinite(r.target) ? (r.netRatio <= r.target ? 'yes' : 'NO') : '-', String(r.pushToFinishedMs),
    String(r.unitOverheadMs), String(r.gapMs)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(format(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(format(l));
}

function summarize(rows: Figures[]) {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return rows.length === 0 ? null : {
    builds: rows.length,
    makespanMs: Math.round(mean(rows.map((r) => r.makespanMs))),
    boundMs: Math.round(mean(rows.map((r) => r.boundMs))),
    ratio: Number(mean(rows.map((r) => r.ratio)).toFixed(3)),
    worstRatio: Number(Math.max(...rows.map((r) => r.ratio)).toFixed(3)),
    worstNetRatio: Number(Math.max(...rows.map((r) => r.netRatio)).toFixed(3)),
    pushToFinishedMs: Math.round(mean(rows.map((r) => r.pushToFinishedMs))),
    unitOverheadMs: Math.round(mean(rows.map((r) => r.unitOverheadMs))),
    gapMs: Math.round(mean(rows.map((r) => r.gapMs))),
  };
}

async function main(): Promise<void> {
  const known = Number(process.env.SHARD_KNOWN ?? 2);
  const noisy = Number(process.env.SHARD_NOISY ?? 3);
  const suite = makeSuite(Number(process.env.SHARD_SEED ?? 1));
  const total = [...suite.values()].reduce((a, b) => a + b, 0);
  const home = tempHome('gg-bench-shard-');
  const dynamic = new Repo(home.dir, 'dynamic');
  const naive = new Repo(home.dir, 'static');
  const builder = (split: 'dynamic' | 'static') => ({ name: 'suite', tests: 'suite/*.test.sh', run: 'sh ./run.sh "$@"',
    junit: 'junit.xml', timeout: 60, split }) as BuilderSpec;
  const server = await new ServerProcess(writeConfig(home.dir, [
    { name: dynamic.name, path: dynamic.bare, gate: [], builders: [builder('dynamic')] },
    { name: naive.name, path: naive.bare, gate: [], builders: [builder('static')] },
  ])).start();
  const runners = Array.from({ length: RUNNERS }, (_, i) => startRunner(server.url, `bench-r${i + 1}`, home.dir, { slots: SLOTS_PER_RUNNER }));
  const rows: Figures[] = [];
  try {
    await pollUntil(async () => (await server.api('/healthz')).runners === RUNNERS, 'the runners to connect');
    console.log(`suite: ${FILES} files, ${Math.min(...suite.values())}–${Math.max(...suite.values())} ms, total ${total} ms; ` +
      `${RUNNERS} runners × ${SLOTS_PER_RUNNER} slots; bound ${Math.round(lowerBound(suite))} ms`);
    const noiseSeeds = Array.from({ length: noisy }, (_, i) => 1000 + i);

    rows.push(await measure(server, dynamic, 'dynamic, warm-up (learning)', suite, 'warm-up', Infinity));
    for (let i = 1; i <= known; i++) rows.push(await measure(server, dynamic, `dynamic, known #${i}`, suite, `known ${i}`, TARGET.known));
    for (const [i, seed] of noiseSeeds.entries()) {
      rows.push(await measure(server, dynamic, `dynamic, ±30% #${i + 1}`, addNoise(suite, seed), `noisy ${seed}`, TARGET.noisy));
    }
    rows.push(await measure(server, naive, 'static, warm-up (clones)', suite, 'warm-up', Infinity));
    rows.push(await measure(server, naive, 'static, known', suite, 'known', Infinity));
    if (noiseSeeds.length) rows.push(await measure(server, naive, 'static, ±30% #1', addNoise(suite, noiseSeeds[0]!), `noisy ${noiseSeeds[0]}`, Infinity));
  } finally {
    await Promise.all(runners.map((r) => stopChild(r)));
    await server.kill();
    home.cleanup();
  }
  printTable(rows);
  const failed = rows.filter((r) => r.result !== 'passed');
  if (failed.length) console.log(`builds not passed: ${failed.map((r) => `${r.scenario} (${r.result})`).join(', ')}`);
  console.log(JSON.stringify({
    bench: 'shard', files: FILES, slots: SLOTS, suiteTotalMs: total, boundMs: Math.round(lowerBound(suite)),
    overheadAllowanceMs: OVERHEAD_ALLOWANCE_MS, targets: TARGET,
    known: summarize(rows.filter((r) => r.scenario.startsWith('dynamic, known'))),
    noisy: summarize(rows.filter((r) => r.scenario.startsWith('dynamic, ±'))),
    staticKnown: summarize(rows.filter((r) => r.scenario === 'static, known')),
    staticNoisy: summarize(rows.filter((r) => r.scenario.startsWith('static, ±'))),
    builds: rows.map((r) => ({ ...r, ratio: Number(r.ratio.toFixed(3)), netRatio: Number(r.netRatio.toFixed(3)), target: Number.isFinite(r.target) ? r.target : null })),
  }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
