/**
 * Batches (issue 26 item 3; bors, Mergify): with more changes waiting than the window tests at
 * once while the runners are the limit (candidate builds made over SATURATED_WAIT_MS ago still wait
 * for one: with runners to spare, batches only add a round per failure), consecutive changes are tested as one batch: every change still gets its candidate commit
 * (the head + every change ahead + itself, queue/candidate.ts: cheap, plumbing only), but only the
 * batch's last candidate — which holds all of the batch — is built. When it passes, the whole batch
 * lands at once (the branch fast-forwarded to that candidate). When it fails, the batch is split
 * over the candidates it already has: each untested one is built at once (a bisection done in one
 * round: halving step by step took log2(size) rounds of T per failure, which halved the throughput
 * in `npm run bench:queue`), and the culprit is the first failing candidate with everything ahead
 * passed, ejected as today (naming its failing tests) while the rest are built again without it.
 * Meanwhile nothing behind a failed candidate is built: it holds the culprit.
 *
 * The batch size comes from the measured break rate p (ejected ÷ (landed + ejected) over the
 * branch's last BREAK_SAMPLES finished changes): the largest size whose batch passes at least half
 * the time, (1 − p)^size ≥ ½, between 1 and MAX_BATCH. Under MIN_SAMPLES finished changes, or with
 * no more changes waiting than the window, there are no batches (size 1: every candidate built).
 */

export const SATURATED_WAIT_MS = 10_000; // 10 seconds: a candidate build waiting longer for a runner means the runners are the limit
export const MAX_BATCH = 8; // changes tested as one build at most
export const BREAK_SAMPLES = 50; // finished changes the break rate is measured over
export const MIN_SAMPLES = 10; // finished changes needed before batching

/** The measured break rate of finished changes (landed or ejected; conflicts and removals say nothing), or null under MIN_SAMPLES. */
export function breakRate(finished: readonly { state: string }[]): number | null {
  const judged = finished.filter((c) => c.state === 'landed' || c.state === 'ejected');
  if (judged.length < MIN_SAMPLES) return null;
  return judged.filter((c) => c.state === 'ejected').length / judged.length;
}

/** The batch size for a break rate: the largest n ≤ MAX_BATCH with (1 − p)^n ≥ ½; 1 when unknown. */
export function batchSize(rate: number | null): number {
  if (rate === null || !(rate >= 0)) return 1;
  if (rate === 0) return MAX_BATCH;
  if (rate >= 0.5) return 1;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(Math.log(0.5) / Math.log(1 - rate))));
}

/** Whether the change at `index` (0-based) of a plan of `planned` changes is built: each batch's last, and the plan's last. */
export function isBuilt(index: number, size: number, planned: number): boolean {
  return (index + 1) % size === 0 || index === planned - 1;
}
