/** A red build's culprit as the API, the tree banner, the build page and notifications show it. */
import type { Store } from '../store/index.js';

export interface CulpritJson {
  /** The culprit commit (null while searching, or when none was found). */
  sha: string | null;
  confirmed: boolean;
  /** The search's bisect builds, oldest first. */
  builds: number[];
  state: 'searching' | 'done';
  confidence: number | null;
  outcome: string | null;
  author: string | null;
  subject: string | null;
  search: number;
  revert: { state: 'wanted' | 'pushed' | 'refused'; sha: string | null; reason: string | null } | null;
}

/** The culprit of a red build, or null when no search was made for it. */
export function culpritJson(store: Pick<Store, 'culprits' | 'builds'>, buildId: number): CulpritJson | null {
  const s = store.culprits.forBuild(buildId);
  if (!s) return null;
  const commit = s.culpritSha ? store.builds.blamelist(s.buildId).find((c) => c.sha === s.culpritSha) : undefined;
  const revert = store.culprits.revertOf(s.id);
  return {
    sha: s.culpritSha, confirmed: s.confirmed, builds: store.culprits.probes(s.id).map((p) => p.buildId), state: s.state,
    confidence: s.confidence, outcome: s.outcome, author: commit?.author ?? null, subject: commit?.subject ?? null, search: s.id,
    revert: revert ? { state: revert.state, sha: revert.revertSha, reason: revert.reason } : null,
  };
}

/** What a bisect build is for: its search's red build and the position it builds. */
export function probeJson(store: Pick<Store, 'culprits'>, buildId: number): { search: number; redBuild: number; position: number } | null {
  const p = store.culprits.probe(buildId);
  const s = p && store.culprits.get(p.searchId);
  return p && s ? { search: s.id, redBuild: s.buildId, position: p.position } : null;
}
