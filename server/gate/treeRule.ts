/**
 * The tree rule, as a pure function of what SQLite says: given a gated branch's current tree
 * state and, for each builder, the build that decides it (BuildStore.deciding: the newest by push
 * order among finished builds that passed, failed or were flaky), what should change.
 *
 * - A person's closure and maintenance stay until a person opens the tree: nothing changes.
 * - Any deciding build failed with new failures: the tree is closed for the newest such build (a
 *   closure for the same build again is no change, so applying the rule twice changes nothing).
 *   A failed build whose failures were all failing before (newFailures.ts) counts as green.
 * - None failed: an automatic closure reopens. An open tree stays open.
 * A rebuild of an older commit is not the newest by push order, so it never decides.
 */
import type { BuildRow } from '../store/builds.js';
import type { TreeStateRow } from '../store/tree.js';

export type TreeAction =
  | { kind: 'none' }
  | { kind: 'close'; build: BuildRow }
  | { kind: 'open'; build: BuildRow | null };

export function decideTree(row: TreeStateRow | undefined, deciding: readonly (BuildRow | undefined)[]): TreeAction {
  if (row && row.state !== 'open' && row.closedBy !== 'build') return { kind: 'none' }; // a person's or the immune system's
  const builds = deciding.filter((b): b is BuildRow => b !== undefined);
  const failed = builds.filter((b) => b.result === 'failed' && b.newFailures !== 0).sort((a, b) => b.id - a.id);
  if (failed.length > 0) {
    if (row?.state === 'closed' && row.buildId === failed[0].id) return { kind: 'none' };
    return { kind: 'close', build: failed[0] };
  }
  if (row?.state === 'closed') {
    const newest = [...builds].sort((a, b) => b.id - a.id)[0] ?? null;
    return { kind: 'open', build: newest };
  }
  return { kind: 'none' };
}
