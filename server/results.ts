/**
 * What a finished unit's tests mean: stores them (quarantined failures marked as such), decides
 * whether the unit failed, which files a flaky retry should run again, marks tests that passed
 * on retry as flaky, and teaches the queue how long each file took. Runs inside the caller's
 * transaction.
 */
import type { Store } from './store/index.js';
import type { BuildRow } from './store/builds.js';
import type { UnitRow } from './store/units.js';
import { unitFiles } from './store/units.js';
import type { TestStatus } from './store/tests.js';
import type { BuilderConfig } from './config.js';
import type { FinishedMessage } from './protocol.js';
import { shareDuration, updateEwma } from './planner.js';

export const MAX_ATTEMPTS = 2; // a failing unit is retried once

export interface UnitOutcome { failed: boolean; retryFiles: string[] | null }

export function testKey(t: { classname: string; name: string }): string {
  return t.classname ? `${t.classname} ${t.name}` : t.name;
}

export function recordUnitTests(store: Store, build: BuildRow, unit: UnitRow, builder: BuilderConfig | undefined,
  msg: FinishedMessage, now: number): UnitOutcome {
  const quarantine = new Set([...(builder?.quarantine ?? []), ...store.tests.quarantined(build.repoId, build.builder)]);
  const isQuarantined = (t: { classname: string; name: string }) => quarantine.has(testKey(t)) || quarantine.has(t.name);
  const tests = msg.tests.map((t) => {
    const bad = t.status === 'failed' || t.status === 'error';
    const status: TestStatus = bad && isQuarantined(t) ? 'quarantined' : t.status;
    return { ...t, status };
  });
  store.tests.insert(build, unit.id, unit.attempt, tests, now);

  const realFailures = tests.filter((t) => t.status === 'failed' || t.status === 'error');
  const quarantinedOnly = msg.exitCode !== 0 && !msg.timedOut && tests.length > 0 && realFailures.length === 0
    && tests.some((t) => t.status === 'quarantined');
  const failed = (msg.exitCode !== 0 || msg.timedOut) && !quarantinedOnly;

  learnDurations(store, build, unit, tests, msg.durationMs, now);
  if (!failed && unit.retryOf !== null && unit.attempt > 1) markFlaky(store, unit.retryOf);
  if (!failed || unit.attempt >= MAX_ATTEMPTS) return { failed, retryFiles: null };

  const files = unitFiles(unit);
  const failingFiles = [...new Set(realFailures.map((t) => t.file).filter((f): f is string => !!f && files.includes(f)))];
  return { failed, retryFiles: failingFiles.length ? failingFiles : files };
}

function markFlaky(store: Store, failedUnitId: number): void {
  for (const t of store.tests.byUnit(failedUnitId)) {
    if (t.status === 'failed' || t.status === 'error') store.tests.setStatus(t.id, 'flaky');
  }
}

function learnDurations(store: Store, build: BuildRow, unit: UnitRow, tests: readonly { file: string | null; durationMs: number }[],
  unitMs: number, now: number): void {
  const files = unitFiles(unit);
  if (files.length === 0) return;
  const known = store.tests.fileDurations(build.repoId, build.builder);
  const fromJUnit = new Map<string, number>();
  for (const t of tests) if (t.file && files.includes(t.file)) fromJUnit.set(t.file, (fromJUnit.get(t.file) ?? 0) + t.durationMs);
  const samples = fromJUnit.size === files.length ? fromJUnit : shareDuration(unitMs, files, known);
  for (const [file, ms] of samples) {
    store.tests.saveFileDuration(build.repoId, build.builder, file, updateEwma(known.get(file) ?? null, ms), now);
  }
}
