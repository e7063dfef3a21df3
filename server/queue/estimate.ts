/**
 * The expected landing time of each queued change (issue 26 item 6) — an estimate, never a promise.
 * A candidate takes T: the median, over the branch's repository's last ESTIMATE_SAMPLES finished
 * candidates (refs/try/queue/*, every builder's builds of one candidate: its first build created to
 * its last finished, queueing for a runner included), of how long one took (store/landQueue.ts
 * candidateBuildMs). The window tests `window` changes at once, so the change at position p lands
 * with round ceil(p / window); the first round ends when the front candidate has had T since it
 * was made (now + T when it has none yet, never before now), and every later round takes one more T.
 * It assumes the tree stays open and nothing ahead fails (a failure or a closed tree delays
 * everyone behind); with no finished candidate measured yet there is no estimate (null).
 */

export const ESTIMATE_SAMPLES = 20; // candidates whose durations make T

/** The median of the samples (ms), or null when there is none. */
export function medianMs(samples: readonly number[]): number | null {
  const ok = samples.filter((n) => Number.isFinite(n) && n >= 0).sort((a, b) => a - b);
  if (ok.length === 0) return null;
  const mid = ok.length >> 1;
  return ok.length % 2 ? ok[mid] : Math.round((ok[mid - 1] + ok[mid]) / 2);
}

/** When the first round (the first `window` changes) is expected to end: the front candidate's start + T, never before now. */
export function firstRoundEnd(now: number, buildMs: number, frontSince: number | null): number {
  return Math.max(now, (frontSince ?? now) + buildMs);
}

/** The expected landing time (epoch ms) of the change at `position` (1-based), or null without a measured T. */
export function expectedLandingAt(position: number, window: number, buildMs: number | null, firstEnd: number): number | null {
  if (buildMs === null || !Number.isSafeInteger(position) || position < 1) return null;
  return firstEnd + (Math.ceil(position / Math.max(1, window)) - 1) * buildMs;
}

/** Each active change's expected landing time, in queue order (`active` first in line first; `since` when its candidate was made). */
export function expectedLandings(active: readonly { state: string; updatedAt: number }[], window: number, buildMs: number | null, now: number): (number | null)[] {
  if (buildMs === null) return active.map(() => null);
  const front = active[0];
  const firstEnd = firstRoundEnd(now, buildMs, front?.state === 'testing' ? front.updatedAt : null);
  return active.map((_c, i) => expectedLandingAt(i + 1, window, buildMs, firstEnd));
}
