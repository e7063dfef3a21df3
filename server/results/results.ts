/**
 * What a finished unit's tests mean: stores them (quarantined failures marked as such), decides
 * whether the unit failed, which files a flaky retry should run again, marks tests that passed
 * on retry as flaky, and teaches the queue how long each file took. Runs inside the caller's
 * transaction.
 *
 * Files: a test case names its file when the JUnit report does. node --test's reports do not;
 * a failing test is then attributed to the unit file its failure message (the stack trace)
 * mentions first, so the retry reruns only the failing files. A failure that cannot be
 * attributed reruns the whole unit.
 *
 * Durations: a file's wall time when the runner reported one (`finished.fileTimes`, from the
 * file's JUnit suite: module loading included); else from JUnit test times when every test case
 * of the unit names its file; otherwise the unit's run time (from its `started` report to its
 * end, never more than the runner's measure, less the builder's learned per-unit overhead,
 * planning/costs.ts) is shared among its files. When every file has a wall time, their sum is the
 * unit's busy time for the per-unit overhead (what is left: process and framework start); else
 * its test times are. A unit that timed out teaches nothing. Contention (planning/contention.ts): the unit's mean concurrency on its runner is
 * kept on the unit; a unit that ran with others first teaches the builder's factor at that
 * concurrency, then its times are divided by that factor, so durations and overhead are learned
 * as if the unit had run alone.
 *
 * A build's result (decideResult) stands on its current attempts: a unit replaced by a retry or
 * by a requeue after a lost runner no longer counts, except that a failure passed on retry
 * makes the build `flaky`.
 */
import type { Store } from '../store/index.js';
import type { BuildResult, BuildRow } from '../store/builds.js';
import type { UnitRow } from '../store/units.js';
import { unitFiles } from '../store/units.js';
import type { TestStatus } from '../store/tests.js';
import type { BuilderConfig } from '../config/config.js';
import type { FinishedMessage } from '../protocol.js';
import { shareDuration, updateEwma } from '../planning/planner.js';
import { overheadFor, teachUnitCost } from '../planning/costs.js';
import { concurrencyLevel, factorAt, meanConcurrency, teachFactor } from '../planning/contention.js';
import { isFailure, testKey } from './failure.js';

export const MAX_ATTEMPTS = 2; // a failing unit is retried once

export interface UnitOutcome { failed: boolean; retryFiles: string[] | null }

export { testKey } from './failure.js';

export function recordUnitTests(store: Store, build: BuildRow, unit: UnitRow, builder: BuilderConfig | undefined,
  msg: FinishedMessage, now: number): UnitOutcome {
  const files = unitFiles(unit);
  const quarantine = new Set([...(builder?.quarantine ?? []), ...store.tests.quarantined(build.repoId, build.builder)]);
  const isQuarantined = (t: { classname: string; name: string }) => quarantine.has(testKey(t)) || quarantine.has(t.name);
  const tests = msg.tests.map((t) => {
    const status: TestStatus = isFailure(t) && isQuarantined(t) ? 'quarantined' : t.status;
    // A one-file unit's tests are that file's; otherwise a failure is attributed by its stack trace.
    const file = t.file ?? (files.length === 1 ? files[0] : isFailure(t) ? attributeFile(t.message, files) : null);
    return { ...t, file, status };
  });
  store.tests.insert(build, unit.id, unit.attempt, tests, now);

  const realFailures = tests.filter(isFailure);
  const quarantinedOnly = msg.exitCode !== 0 && !msg.timedOut && tests.length > 0 && realFailures.length === 0
    && tests.some((t) => t.status === 'quarantined');
  const failed = ((msg.exitCode !== 0 || msg.timedOut) && !quarantinedOnly) || msg.artifactsFailed === true; // a refused artifact fails the unit

  const k = recordConcurrency(store, unit, now);
  if (!msg.timedOut) learnDurations(store, build, unit, msg, measureRunMs(unit, msg, now), k, now);
  if (unit.attempt > 1) {
    const first = findFailedAttempt(store, unit);
    if (first) markFlaky(store, first.id, tests, !failed);
  }
  if (!failed || unit.attempt >= MAX_ATTEMPTS) return { failed, retryFiles: null };

  // Only the failing files run again, when every failure is known to come from one of them.
  const failing = new Set(realFailures.map((t) => t.file));
  const known = realFailures.length > 0 && [...failing].every((f) => f !== null && files.includes(f));
  return { failed, retryFiles: known ? files.filter((f) => failing.has(f)) : files };
}

/**
 * The unit file a failure message mentions first (a stack frame such as
 * `file:///work/slot-0/test/cart.test.js:12:5`), or null. A file counts only as a whole path
 * component sequence: `test/a.test.js` does not match `test/aa.test.js` or `test/a.test.jsx`.
 */
export function attributeFile(message: string | null, files: readonly string[]): string | null {
  if (!message || files.length === 0) return null;
  let best: string | null = null;
  let bestAt = Infinity;
  for (const file of files) {
    const re = new RegExp(`(?:^|[\\s/(\\\\])${escapeRegExp(file)}(?=$|[\\s:)'"])`, 'm');
    const m = re.exec(message);
    if (m && m.index < bestAt) [best, bestAt] = [file, m.index];
  }
  return best;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The failed attempt a retry reruns, past any copies of the retry made when a runner was lost. */
function findFailedAttempt(store: Store, unit: UnitRow): UnitRow | undefined {
  for (let id = unit.retryOf, hops = 0; id !== null && hops < 10; hops++) {
    const earlier = store.units.get(id);
    if (!earlier) return undefined;
    if (earlier.result === 'failed' && earlier.attempt < unit.attempt) return earlier;
    id = earlier.retryOf;
  }
  return undefined;
}

/** The failures of the first attempt that passed on retry (all of them when the retry passed as a whole) become flaky. */
function markFlaky(store: Store, failedUnitId: number, retryTests: readonly { classname: string; name: string; status: string }[],
  retryPassed: boolean): void {
  const passed = new Set(retryTests.filter((t) => t.status === 'passed').map(testKey));
  for (const t of store.tests.byUnit(failedUnitId)) {
    if (isFailure(t) && (retryPassed || passed.has(testKey(t)))) store.tests.setStatus(t.id, 'flaky');
  }
}

/** The unit's own run time: `started` to its end as the server saw them, capped by the runner's measure (which also counts checkout and setup). */
function measureRunMs(unit: UnitRow, msg: FinishedMessage, now: number): number {
  const seen = unit.startedAt !== null ? Math.max(0, now - unit.startedAt) : Infinity;
  return Math.min(msg.durationMs, seen);
}

/** The unit's mean concurrency on its runner (kept on the unit), as the level it teaches; 1 when it never started. */
function recordConcurrency(store: Store, unit: UnitRow, now: number): number {
  if (unit.runnerId === null || unit.startedAt === null) return 1;
  const end = Math.max(now, unit.startedAt);
  const mean = meanConcurrency({ start: unit.startedAt, end }, store.contention.overlapping(unit.runnerId, unit.id, unit.startedAt, end));
  store.contention.setConcurrency(unit.id, mean);
  return concurrencyLevel(mean);
}

function learnDurations(store: Store, build: BuildRow, unit: UnitRow, msg: Pick<FinishedMessage, 'tests' | 'fileTimes'>,
  measuredRunMs: number, k: number, now: number): void {
  const measured = msg.tests;
  const files = unitFiles(unit);
  if (files.length === 0) return;
  const known = store.tests.fileDurationsOf(build.repoId, build.builder, files);
  // Contention first: what the files take alone against what this unit took; then its times as if it had run alone.
  const ofUnit = new Set(files);
  const cost = store.costs.get(build.repoId, build.builder);
  const knownMs = files.every((f) => known.has(f)) ? files.reduce((sum, f) => sum + known.get(f)!, 0) : null;
  const soloMs = knownMs === null ? null : knownMs + overheadFor(cost);
  const factor = factorAt(teachFactor(store.contention, build.repoId, build.builder, k, { runMs: measuredRunMs, soloMs }, now), k, 1);
  const runMs = measuredRunMs / factor;
  const tests = factor === 1 ? measured : measured.map((t) => ({ ...t, durationMs: t.durationMs / factor }));
  const fromJUnit = new Map<string, number>();
  for (const t of tests) if (t.file && ofUnit.has(t.file)) fromJUnit.set(t.file, (fromJUnit.get(t.file) ?? 0) + t.durationMs);
  // A one-file unit's run time is that file's cost (process start included); its tests' sum is less.
  const complete = files.length > 1 && tests.length > 0 && tests.every((t) => t.file && ofUnit.has(t.file)) && fromJUnit.size === files.length;
  const testMs = tests.reduce((sum, t) => sum + t.durationMs, 0);
  // Files' own wall times (module loading included), when the runner read them from the report's suites.
  const walls = wallTimes(msg.fileTimes, ofUnit, factor);
  const wallMs = walls.size === ofUnit.size ? [...walls.values()].reduce((sum, ms) => sum + ms, 0) : null;
  // The builder's fixed cost per unit, learned from this unit too (planning/costs.ts).
  const overheadMs = overheadFor(teachUnitCost(store.costs, build.repoId, build.builder,
    { runMs, testMs: tests.length ? testMs : null, knownMs, wallMs }, now, cost));
  // Tests may run in parallel inside a unit, so their sum only says the run took at least that long.
  const shared = Math.max(runMs - overheadMs, Math.min(testMs, runMs), 0);
  const samples = new Map(complete ? fromJUnit : shareDuration(shared, files, known));
  for (const [file, ms] of walls) samples.set(file, ms);
  for (const [file, ms] of samples) {
    store.tests.saveFileDuration(build.repoId, build.builder, file, updateEwma(known.get(file) ?? null, ms), now);
  }
}

/** The unit files' reported wall times (ms, summed per file), divided by the contention factor. */
function wallTimes(fileTimes: FinishedMessage['fileTimes'], files: ReadonlySet<string>, factor: number): Map<string, number> {
  const walls = new Map<string, number>();
  for (const { file, ms } of fileTimes ?? []) {
    if (files.has(file) && Number.isFinite(ms) && ms >= 0) walls.set(file, (walls.get(file) ?? 0) + ms / factor);
  }
  return walls;
}

/** A build's result from its units (`current` = the attempts not superseded by a retry). */
export function decideResult(all: readonly UnitRow[], current: readonly UnitRow[]): { result: BuildResult; reason: string | null } {
  if (current.length === 0) return { result: 'failed', reason: 'no test files matched the builder\'s tests pattern' };
  const lost = current.find((u) => u.result === 'exception');
  if (lost) return { result: 'exception', reason: lost.error ?? 'infrastructure failure' };
  const failed = current.filter((u) => u.result === 'failed');
  if (failed.length) return { result: 'failed', reason: `${failed.length} of ${current.length} units failed` };
  if (current.some((u) => u.result === 'cancelled')) return { result: 'cancelled', reason: 'cancelled' };
  const retriedFailures = all.some((u) => u.result === 'failed');
  if (retriedFailures) return { result: 'flaky', reason: 'passed after a retry' };
  return { result: 'passed', reason: null };
}
