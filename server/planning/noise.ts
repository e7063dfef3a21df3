/**
 * The noisy scenarios the planner weighs its candidates on: NOISE_SCENARIOS deterministic ±NOISE
 * variations of the expected durations, each file's keyed by its name (FNV-1a with a final mix),
 * so the same files give the same scenarios on every run.
 */

/** How far actual durations stray from the learned ones when choosing the granularity. */
export const NOISE = 0.3; // ±30%
export const NOISE_SCENARIOS = 8;

/** Deterministic ±NOISE variations of the expected durations, keyed by file name. */
export function perturb(names: string[], ms: readonly number[]): number[][] {
  const scenarios: number[][] = Array.from({ length: NOISE_SCENARIOS }, () => new Array<number>(ms.length));
  names.forEach((name, i) => {
    // hashUnit(`${name}\u0000${k}`) for each k, sharing the work on the name.
    const prefix = hashText(hashText(FNV_OFFSET, name), '\u0000');
    for (let k = 1; k <= NOISE_SCENARIOS; k += 1) {
      scenarios[k - 1]![i] = ms[i]! * (1 + NOISE * (2 * mixHash(hashText(prefix, String(k))) - 1));
    }
  });
  return scenarios;
}

const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a over text, continuing from h. */
function hashText(h: number, text: string): number {
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** The final mix of an FNV-1a state, mapped to [0, 1). */
function mixHash(h: number): number {
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 2 ** 32;
}
