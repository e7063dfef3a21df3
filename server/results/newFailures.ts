/**
 * Only new failures close the tree. When a build of a branch fails, each failing test (its last
 * attempt) is marked "failing before" when it was already failing before the tree's last known
 * good state: it failed in the previous build of the same builder and branch (by push order) and
 * was "failing before" there too, or the previous build does not exist (this is the builder's
 * first build of the branch, so whatever fails was broken before greengate saw it). A test that
 * passed before and fails now is new; so is a failed unit that reported no failing test (its
 * cause is unknown). The build's count of new failures is stored; the tree rule treats a failed
 * build with none like a green one (treeRule.ts). Runs inside the lifecycle's transaction.
 */
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import { isFailure, testKey } from './failure.js';

const keyOf = (t: { classname: string; name: string; file: string | null }) => `${t.file ?? ''}\0${testKey(t)}`;

/** Marks the build's pre-existing failures and stores how many failures are new; returns that count. */
export function markNewFailures(store: Store, build: BuildRow): number {
  const failing = store.tests.finalByBuild(build.id).filter(isFailure);
  const prev = build.kind === 'branch' ? store.builds.previous(build) : undefined;
  const before = new Set(prev ? store.tests.finalByBuild(prev.id).filter((t) => isFailure(t) && t.failingBefore).map(keyOf) : []);
  const firstBuild = build.kind === 'branch' && !prev;
  let fresh = 0;
  for (const t of failing) {
    const old = firstBuild || before.has(keyOf(t));
    if (old) store.tests.setFailingBefore(t.id, true);
    else fresh++;
  }
  const unitsWithFailingTests = new Set(failing.map((t) => t.unitId));
  const units = store.units.byBuild(build.id);
  const replaced = new Set(units.map((u) => u.retryOf).filter((id): id is number => id !== null));
  for (const u of units) {
    if (!replaced.has(u.id) && u.result === 'failed' && !unitsWithFailingTests.has(u.id)) fresh++;
  }
  store.builds.setNewFailures(build.id, fresh);
  return fresh;
}
