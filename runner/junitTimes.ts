/**
 * Per-file wall times from a unit's JUnit reports (junit.ts's `fileTimes`), for the `finished`
 * message's fileTimes (server/results/results.ts learns file durations from them).
 *
 * Contract: a <testsuite> with a `time` above 0 whose test cases are all attributed to one file
 * gives that file its time; only the outermost such suite counts (nested suites are inside its
 * time) and several such suites of one file add up. A file with a test case outside every such
 * suite, in any report, gets no time; tests without a file give none. Times are capped at
 * MAX_DURATION_MS. Pure: no I/O.
 */
import type { FileTime } from '../server/protocol.js';

const MAX_DURATION_MS = 1e9; // as TestCase.durationMs and FileTime.ms

/** A <testsuite> element: its `time` in ms, or null when it has none above 0. */
export interface SuiteTime { ms: number | null }
/** A report's suites and, per test case in document order, the indices of its enclosing suites (outermost first). */
export interface TimedReport { tests: readonly { chain: readonly number[] }[]; suites: readonly SuiteTime[] }

/**
 * Per-file wall times over a unit's reports (see the contract above): the outermost timed suite
 * whose test cases are all of one file counts for that file; a file with a test case outside
 * every such suite, in any report, gets no time.
 */
export class WallTimes {
  private readonly ms = new Map<string, number>();
  private readonly uncovered = new Set<string>();

  /** One report's suites, with `files[i]` the attributed file of its i-th test case. */
  add(report: TimedReport, files: readonly (string | null)[]): void {
    const suiteFiles = report.suites.map(() => new Set<string | null>());
    report.tests.forEach(({ chain }, i) => { for (const id of chain) suiteFiles[id]!.add(files[i] ?? null); });
    const counted = new Set<number>();
    report.tests.forEach(({ chain }, i) => {
      const file = files[i] ?? null;
      if (file === null) return;
      const id = chain.find((s) => report.suites[s]!.ms !== null && suiteFiles[s]!.size === 1);
      if (id === undefined) { this.uncovered.add(file); return; }
      if (counted.has(id)) return;
      counted.add(id);
      this.ms.set(file, (this.ms.get(file) ?? 0) + report.suites[id]!.ms!);
    });
  }

  result(): FileTime[] {
    return [...this.ms].filter(([file]) => !this.uncovered.has(file))
      .map(([file, ms]) => ({ file, ms: Math.min(ms, MAX_DURATION_MS) }));
  }
}
