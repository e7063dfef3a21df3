/**
 * The culprit search's and the automatic revert's keys of a repository in greengate.yml:
 *
 *   autoRevert: true          # or [main]: gated branches whose confirmed culprits are reverted (absent: none)
 *   culprit:                  # optional
 *     confirmRuns: 2          # runs of the failing tests that must fail at the culprit and pass at its parent
 *     maxPerDay: 3            # automatic reverts per branch in any 24 hours
 *
 * Culprit finding runs on every gated branch; reverting is opt-in per gated branch. A branch in
 * `autoRevert` must be in `gate` (checked with the rest of the file).
 */
import { z } from 'zod';

export const DEFAULT_CONFIRM_RUNS = 2;
export const DEFAULT_MAX_REVERTS_PER_DAY = 3;

export interface CulpritConfig { confirmRuns: number; maxPerDay: number }

const whole = (min: number, max: number, what: string) => {
  const msg = `must be a whole number from ${min} to ${max}${what}`;
  return z.preprocess((v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v), z.number().int(msg).min(min, msg).max(max, msg));
};

export const autoRevertSchema = z.union([z.boolean(), z.array(z.string().min(1))],
  { error: 'must be true, false, or a list of gated branches, e.g. autoRevert: [main]' }).optional();

export const culpritSchema = z.strictObject({
  confirmRuns: whole(1, 10, ' (runs at the culprit and at its parent)').default(DEFAULT_CONFIRM_RUNS),
  maxPerDay: whole(0, 100, ' (automatic reverts per branch in 24 hours)').default(DEFAULT_MAX_REVERTS_PER_DAY),
}).optional();

export const CULPRIT_KEYS = ['confirmRuns', 'maxPerDay'];

/** The culprit settings of a repository, defaults filled in. */
export function culpritSettings(repo: { culprit?: Partial<CulpritConfig> }): CulpritConfig {
  return { confirmRuns: repo.culprit?.confirmRuns ?? DEFAULT_CONFIRM_RUNS, maxPerDay: repo.culprit?.maxPerDay ?? DEFAULT_MAX_REVERTS_PER_DAY };
}

/** Whether a confirmed culprit on this branch is reverted: the branch is gated and autoRevert names it (or is true). */
export function autoRevertsOn(repo: { gate: readonly string[]; autoRevert?: boolean | readonly string[] }, branch: string): boolean {
  if (!repo.gate.includes(branch)) return false;
  return repo.autoRevert === true || (Array.isArray(repo.autoRevert) && repo.autoRevert.includes(branch));
}

/** Problems of the keys that depend on others: each branch of autoRevert must be gated. */
export function checkAutoRevert(repositories: readonly { gate: readonly string[]; autoRevert?: boolean | readonly string[] }[]):
  { path: (string | number)[]; message: string }[] {
  const found: { path: (string | number)[]; message: string }[] = [];
  repositories.forEach((repo, i) => {
    if (!Array.isArray(repo.autoRevert)) return;
    repo.autoRevert.forEach((branch, j) => {
      if (!repo.gate.includes(branch)) {
        found.push({ path: ['repositories', i, 'autoRevert', j], message: `"${branch}" is not gated — add it to gate: first, or remove it here` });
      }
    });
  });
  return found;
}
