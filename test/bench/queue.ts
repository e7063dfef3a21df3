/**
 * Benchmark of the land queue: `npm run bench:queue [-- --quick] [-- --build-ms N] [-- --saturated]` runs the real queue
 * code (queue/entry.ts, speculation.ts, candidate.ts, landing.ts) over a real SQLite store and bare git
 * repository, with builds faked (test/server/queue/simulation.ts): every candidate's build takes T
 * (--build-ms, default 1000), fails when the candidate holds a breaking change, and 2 % of builds hit
 * a flaky failure that the retry passes (a second flaky failure, 2 % of those, fails the build).
 * --saturated: the runners are the limit, so the queue tests changes in batches (queue/batch.ts).
 * 200 changes (--quick: 60), exactly 10 % breaking (seeded positions), all queued at once. Targets (issue 26): 0 red
 * commits landed, every good change landed, every bad one ejected, ≥ 4 changes landed per T, queue entry
 * ≤ 50 ms, a passing candidate landed ≤ 100 ms after its build finished. Prints JSON and a line of text.
 */
import { Simulation } from '../server/queue/simulation.js';
import { seededRandom } from '../helpers.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const round = (n: number) => Math.round(n * 10) / 10;

export async function benchQueue(opts: { changes: number; buildMs: number; breakRate: number; flakyRate: number; seed: number; saturated?: boolean }) {
  const sim = new Simulation({ buildMs: opts.buildMs, flakyRate: opts.flakyRate, seed: opts.seed, saturated: () => opts.saturated ?? false });
  try {
    const random = seededRandom(opts.seed + 1);
    // Exactly breakRate of the changes break (seeded positions), so a run is the same every time.
    const order = Array.from({ length: opts.changes }, (_, i) => ({ i, key: random() })).sort((a, b) => a.key - b.key);
    const bad = new Set(order.slice(0, Math.round(opts.changes * opts.breakRate)).map((x) => x.i));
    const planned = Array.from({ length: opts.changes }, (_, i) => ({ n: i + 1, bad: bad.has(i) }));
    const shas = planned.map((c) => sim.commit(c.bad ? { [`f${c.n}.txt`]: `${c.n}\n`, [`broken-${c.n}`]: 'x\n' } : { [`f${c.n}.txt`]: `${c.n}\n` }, `change ${c.n}`));
    const t0 = performance.now();
    const entries: { id: number; ms: number }[] = [];
    for (const sha of shas) entries.push(await sim.queueCommit(sha));
    await sim.settle(opts.changes * opts.buildMs * 4 + 60_000);
    const elapsed = performance.now() - t0;

    const rows = new Map(sim.store.landQueue.recent('shop', 'main', opts.changes + 10).map((c) => [c.id, c]));
    const outcome = planned.map((c, i) => ({ ...c, row: rows.get(entries[i].id)! }));
    const goodLanded = outcome.filter((c) => !c.bad && c.row.state === 'landed').length;
    const goodEjected = outcome.filter((c) => !c.bad && c.row.state !== 'landed');
    const badEjected = outcome.filter((c) => c.bad && c.row.state === 'ejected').length;
    const badLanded = outcome.filter((c) => c.bad && c.row.state === 'landed').length;
    const redLandings = sim.landings.filter((l) => sim.builds.some((b) => b.sha === l.new && b.result === 'failed')).length;
    // A landing's delay: from its candidate's (last) build finishing to the branch moving.
    const landDelays = sim.landings.map((l) => {
      const done = sim.builds.filter((b) => b.sha === l.new).map((b) => b.at);
      return done.length ? l.at - Math.max(...done) : NaN;
    }).filter((d) => Number.isFinite(d)).sort((a, b) => a - b);
    const entryMs = entries.map((e) => e.ms).sort((a, b) => a - b);
    const landedPerT = (goodLanded + badLanded) / (elapsed / opts.buildMs);
    const result = {
      changes: opts.changes, breaking: planned.filter((c) => c.bad).length, buildMs: opts.buildMs, flakyRate: opts.flakyRate,
      elapsedMs: Math.round(elapsed), landed: goodLanded + badLanded, goodLanded, goodNotLanded: goodEjected.map((c) => ({ n: c.n, state: c.row.state, reason: c.row.reason })),
      badEjected, badLanded, redLandings, builds: sim.builds.length,
      landedPerBuildTime: round(landedPerT),
      entryMs: { p50: round(percentile(entryMs, 50)), p99: round(percentile(entryMs, 99)), max: round(entryMs.at(-1)!) },
      landDelayMs: { p50: round(percentile(landDelays, 50)), p99: round(percentile(landDelays, 99)), max: round(landDelays.at(-1)!) },
      finalWindow: sim.queue.window('shop', 'main'), saturated: opts.saturated ?? false,
    };
    return result;
  } finally {
    await sim.close();
  }
}

if (process.argv[1]?.endsWith('bench/queue.js')) {
  const quick = process.argv.includes('--quick');
  const i = process.argv.indexOf('--build-ms');
  const buildMs = i > 0 ? Number(process.argv[i + 1]) : 1000;
  const saturated = process.argv.includes('--saturated'); // the runners are the limit: batches (queue/batch.ts)
  const r = await benchQueue({ changes: quick ? 60 : 200, buildMs, breakRate: 0.1, flakyRate: 0.02, seed: 26, saturated });
  console.log(JSON.stringify(r, null, 2));
  const targets: [string, boolean][] = [
    ['0 red landings', r.redLandings === 0 && r.badLanded === 0],
    ['every good change landed', r.goodNotLanded.length === 0],
    ['every bad change ejected', r.badEjected === r.breaking],
    ['≥ 4 landed per T', r.landedPerBuildTime >= 4],
    ['entry ≤ 50 ms (p50)', r.entryMs.p50 <= 50],
    ['landing ≤ 100 ms after its build (p50)', r.landDelayMs.p50 <= 100],
  ];
  console.log(`land queue: ${r.landed}/${r.changes} landed (${r.breaking} breaking, ${r.badEjected} ejected), ${r.redLandings} red landings, ` +
    `${r.landedPerBuildTime} landed per build time T=${r.buildMs} ms, entry p50/p99 ${r.entryMs.p50}/${r.entryMs.p99} ms, ` +
    `landing p50/p99 ${r.landDelayMs.p50}/${r.landDelayMs.p99} ms after its build`);
  for (const [what, met] of targets) console.log(`  ${met ? 'met   ' : 'MISSED'} ${what}`);
  process.exitCode = targets.every(([, met]) => met) ? 0 : 1;
}
