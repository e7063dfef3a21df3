/**
 * A builder's `schedule:` (issue 23 item 6): when the server builds a branch's head by itself.
 *
 *   schedule: "0 3 * * *"                             # the repository's first gated branch
 *   schedule: { cron: "0 3 * * *", branch: release }  # another branch
 *
 * Cron syntax as croner reads it: five fields (minute hour day month weekday), or six with seconds
 * first; times are the server's local time zone. Validated at load with the parser's own message.
 * A schedule without `branch` needs a repository with a `gate:` branch (checked by the repository).
 */
import { z } from 'zod';
import { Cron } from 'croner';

export interface ScheduleConfig { cron: string; branch: string | null }

/** Whether croner reads the pattern; else its reason. */
export function cronProblem(pattern: string): string | null {
  try {
    new Cron(pattern, { paused: true });
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, '');
  }
}

const cronSchema = z.string('must be a cron pattern, e.g. "0 3 * * *" (03:00 every day)').superRefine((p, ctx) => {
  const problem = cronProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `is not a cron pattern (${problem}) — e.g. "0 3 * * *" for 03:00 every day` });
});

/** `schedule:` of a builder, as a pattern or { cron, branch }; `branch` is checked by the given schema. */
export function builderScheduleSchema(branch: z.ZodType<string>) {
  return z.preprocess((v) => (typeof v === 'string' ? { cron: v } : v),
    z.strictObject({ cron: cronSchema, branch: branch.optional() }, 'must be a cron pattern ("0 3 * * *") or { cron: "0 3 * * *", branch: main }')
      .transform((s): ScheduleConfig => ({ cron: s.cron, branch: s.branch ?? null }))).optional();
}

/** The branch a schedule builds: its own, else the repository's first gated branch. */
export function scheduledBranch(s: ScheduleConfig, gate: readonly string[]): string | null {
  return s.branch ?? gate[0] ?? null;
}

/** The first time the pattern fires after `after` (ms); null when it never does again. */
export function nextFire(pattern: string, after: number): number | null {
  return new Cron(pattern, { paused: true }).nextRun(new Date(after))?.getTime() ?? null;
}
