/**
 * Micro-benchmark of the planner (server/planning/planner.ts), printed by `npm run bench:scale`
 * (and alone with `npm run bench:scale -- --planning`): the time planUnits takes to split 2,000
 * files for 40, 400 and 2,000 slots, on unknown durations (every file the same) and on skewed
 * known ones (log-uniform 50 ms – 3 s, seeded). In-process, the median of REPEATS runs after
 * one warm-up; the plan's simulated makespan over its lower bound is printed beside it so a
 * faster planner can be seen not to plan worse.
 */
import { DEFAULT_DURATION_MS, planUnits } from '../../server/planning/planner.js';
import { seededRandom } from '../helpers.js';

export const PLANNING_FILES = 2_000;
export const PLANNING_SLOTS = [40, 400, 2_000] as const;
const REPEATS = 5;
const TARGET_MS = 2_000; // unitTargetSeconds' default

export interface PlanningFigures {
  durations: 'unknown' | 'skewed'; files: number; slots: number; units: number; medianMs: number; maxMs: number;
  /** CPU time of this process (user + system) for one plan, median: wall time suffers when the machine is shared. */
  cpuMedianMs: number;
  /** Greedy longest-first makespan of the plan (with its overheads) ÷ max(longest file, total ÷ slots). */
  ratio: number;
}

function suite(kind: PlanningFigures['durations']): Map<string, number> {
  const random = seededRandom(7);
  return new Map(Array.from({ length: PLANNING_FILES }, (_, i) => [`test/f${String(i).padStart(4, '0')}.test.js`,
    kind === 'unknown' ? DEFAULT_DURATION_MS : Math.round(50 * 60 ** random())]));
}

function makespan(units: { expectedMs: number }[], slots: number): number {
  const ends = new Array<number>(slots).fill(0);
  for (const u of [...units].sort((a, b) => b.expectedMs - a.expectedMs)) {
    let slot = 0;
    for (let s = 1; s < slots; s += 1) if (ends[s]! < ends[slot]!) slot = s;
    ends[slot]! += u.expectedMs;
  }
  return Math.max(...ends);
}

export function measurePlanning(): PlanningFigures[] {
  const rows: PlanningFigures[] = [];
  for (const kind of ['unknown', 'skewed'] as const) {
    const durations = suite(kind);
    const values = [...durations.values()];
    const total = values.reduce((a, b) => a + b, 0);
    for (const slots of PLANNING_SLOTS) {
      let units = planUnits(durations, { targetMs: TARGET_MS, slots });
      const times: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < REPEATS; i += 1) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        units = planUnits(durations, { targetMs: TARGET_MS, slots });
        const c = process.cpuUsage(c0);
        times.push(performance.now() - t0);
        cpu.push((c.user + c.system) / 1000);
      }
      times.sort((a, b) => a - b);
      cpu.sort((a, b) => a - b);
      const bound = Math.max(Math.max(...values), total / slots);
      rows.push({ durations: kind, files: PLANNING_FILES, slots, units: units.length,
        medianMs: Number(times[Math.floor(times.length / 2)]!.toFixed(1)),
        cpuMedianMs: Number(cpu[Math.floor(cpu.length / 2)]!.toFixed(1)), maxMs: Number(times[times.length - 1]!.toFixed(1)),
        ratio: Number((makespan(units, slots) / bound).toFixed(3)) });
    }
  }
  return rows;
}

export function printPlanning(rows: PlanningFigures[]): void {
  console.log('\nplanning 2,000 files (planUnits, in-process, median of 5):');
  console.log('| durations | slots | units | median ms | max ms | CPU median ms | makespan ÷ bound |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.durations} | ${r.slots} | ${r.units} | ${r.medianMs} | ${r.maxMs} | ${r.cpuMedianMs} | ${r.ratio.toFixed(3)} |`);
}
