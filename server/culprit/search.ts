/**
 * The culprit search, as a pure function of what was observed (no I/O, no clock): flake-aware
 * noisy bisection over a blamelist.
 *
 * Positions: 0 is the base (the parent of the blamelist's oldest commit, built before), 1..n the
 * blamelist oldest first, n the head of the red build. A hypothesis k says "position k is the first
 * bad one": every position ≥ k fails the tests, every one below passes. k = 0 means the breakage
 * predates the blamelist, k = n + 1 that the head's failure was a flake. Each run of the failing
 * tests at a position is an observation (pass or fail); a run gives the wrong answer with
 * probability `flakeRate` (from the tests' history). The posterior over k is the product of the
 * likelihoods (uniform prior). The next probe splits in half the hypotheses tied for most likely
 * (bisection); once one leads alone, its two sides are verified.
 *
 * A culprit is confirmed when the failing tests failed at it and passed at its parent at least
 * `confirmRuns` times each and its posterior is at least `confidence`. With no flakes observed
 * it takes at most ⌈log₂ n⌉ + 2 probes (confirmRuns = 2, base passed and head failed known).
 * After `maxProbes` the most likely commit is named unconfirmed.
 */

export interface Observation { pass: number; fail: number }

export interface SearchState {
  /** Commits in the blamelist (n ≥ 1). */
  n: number;
  /** Observations by position 0..n (length n + 1). */
  obs: Observation[];
  /** Probes made so far (the extra builds). */
  probes: number;
}

export interface SearchOptions {
  confirmRuns: number;
  flakeRate: number;
  confidence: number;
  maxProbes: number;
}

export const DEFAULT_CONFIRM_RUNS = 2;
export const DEFAULT_CONFIDENCE = 0.995;
export const MIN_FLAKE_RATE = 0.01; // even a test never seen flaking may
export const MAX_FLAKE_RATE = 0.3; // beyond this a bisection says nothing

export type Decision =
  | { kind: 'probe'; position: number }
  | { kind: 'done'; culprit: number | null; confirmed: boolean; confidence: number };

/** A fresh search: the base passed (when it was built) and the head failed. */
export function startSearch(n: number, basePassed: boolean): SearchState {
  if (!Number.isInteger(n) || n < 1) throw new Error(`a culprit search needs a blamelist of at least one commit, not ${n}`);
  const obs = Array.from({ length: n + 1 }, () => ({ pass: 0, fail: 0 }));
  if (basePassed) obs[0].pass = 1;
  obs[n].fail = 1;
  return { n, obs, probes: 0 };
}

/** The budget of probes for a blamelist of n commits: a bisection and its verification, three times over. */
export function defaultMaxProbes(n: number, confirmRuns = DEFAULT_CONFIRM_RUNS): number {
  return 3 * (Math.ceil(Math.log2(Math.max(2, n + 1))) + 2 * confirmRuns) + 2;
}

export function defaultOptions(n: number, flakeRate = MIN_FLAKE_RATE, confirmRuns = DEFAULT_CONFIRM_RUNS): SearchOptions {
  return { confirmRuns, flakeRate: clampRate(flakeRate), confidence: DEFAULT_CONFIDENCE, maxProbes: defaultMaxProbes(n, confirmRuns) };
}

export function clampRate(rate: number): number {
  return Math.min(MAX_FLAKE_RATE, Math.max(MIN_FLAKE_RATE, Number.isFinite(rate) ? rate : MIN_FLAKE_RATE));
}

/** The state after one more probe result at a position. */
export function observe(state: SearchState, position: number, failed: boolean): SearchState {
  if (position < 0 || position > state.n) throw new Error(`position ${position} is outside 0..${state.n}`);
  const obs = state.obs.map((o, i) => (i === position ? { pass: o.pass + (failed ? 0 : 1), fail: o.fail + (failed ? 1 : 0) } : o));
  return { n: state.n, obs, probes: state.probes + 1 };
}

/** The posterior over hypotheses k = 0..n+1 (sums to 1). */
export function posterior(state: SearchState, flakeRate: number): number[] {
  const q = clampRate(flakeRate);
  const lq = Math.log(q);
  const lp = Math.log(1 - q);
  // log-likelihood of hypothesis k: positions < k are good, ≥ k bad. Prefix sums keep it O(n).
  const goodLl = [0]; // goodLl[k] = Σ_{i<k} ll(obs_i | good)
  for (let i = 0; i <= state.n; i++) goodLl.push(goodLl[i] + state.obs[i].pass * lp + state.obs[i].fail * lq);
  const badLl = new Array<number>(state.n + 2).fill(0); // badLl[k] = Σ_{i≥k} ll(obs_i | bad)
  for (let i = state.n; i >= 0; i--) badLl[i] = badLl[i + 1] + state.obs[i].fail * lp + state.obs[i].pass * lq;
  const ll = goodLl.map((g, k) => g + badLl[k]);
  const max = Math.max(...ll);
  const w = ll.map((x) => Math.exp(x - max));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** What to do next: probe a position, or stop with a culprit (a position 1..n) or none. */
export function decide(state: SearchState, opts: SearchOptions): Decision {
  const post = posterior(state, opts.flakeRate);
  let best = 0;
  for (let k = 1; k < post.length; k++) if (post[k] > post[best]) best = k;
  const inRange = best >= 1 && best <= state.n;
  if (inRange && post[best] >= opts.confidence && state.obs[best].fail >= opts.confirmRuns
    && state.obs[best - 1].pass >= opts.confirmRuns) {
    return { kind: 'done', culprit: best, confirmed: true, confidence: post[best] };
  }
  const sure = post[best] >= opts.confidence;
  if (sure && best === state.n + 1 && state.obs[state.n].pass >= opts.confirmRuns) {
    return { kind: 'done', culprit: null, confirmed: true, confidence: post[best] }; // the head's failure did not come back
  }
  if (sure && best === 0 && state.obs[0].fail >= opts.confirmRuns) {
    return { kind: 'done', culprit: null, confirmed: true, confidence: post[best] }; // broken before the blamelist
  }
  if (state.probes >= opts.maxProbes) {
    return { kind: 'done', culprit: inRange ? best : null, confirmed: false, confidence: post[best] };
  }
  // The hypotheses tied for most likely (with one flake rate, those contradicted by the fewest runs).
  const leaders = post.map((p, k) => ({ p, k })).filter((h) => h.p >= post[best] * (1 - 1e-9)).map((h) => h.k);
  if (leaders.length > 1) return { kind: 'probe', position: leaders[Math.floor(leaders.length / 2) - 1] };
  // One leader: verify it, the side with fewer confirming runs first, then the side with the more mixed evidence.
  if (best <= state.n && state.obs[best].fail < opts.confirmRuns) return { kind: 'probe', position: best };
  if (best >= 1 && state.obs[best - 1].pass < opts.confirmRuns) return { kind: 'probe', position: best - 1 };
  if (best === 0) return { kind: 'probe', position: 0 };
  if (best === state.n + 1) return { kind: 'probe', position: state.n };
  const badSide = state.obs[best].fail - state.obs[best].pass;
  const goodSide = state.obs[best - 1].pass - state.obs[best - 1].fail;
  return { kind: 'probe', position: badSide <= goodSide ? best : best - 1 };
}
