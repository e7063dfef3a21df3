/**
 * `deploy:` of a repository in greengate.yml: per gated branch, the stages a green head goes
 * through, in order. Each stage has a `run` and a `rollback` command (run by `sh -c` on a runner
 * chosen by `runsOn` labels, in a checkout of the deployed commit, with the GREENGATE_* variables),
 * a `timeout` (seconds without output, as a builder's) and a `watch`: the window and metrics the
 * immune system (server/immune/) compares before and after the stage.
 *
 * The watch spec is the immune system's (server/config/watch.ts): window, source, metrics.
 *
 *   repositories:
 *     - name: shop
 *       gate: [main]
 *       deploy:
 *         main:
 *           stages:
 *             - name: canary
 *               run: ./deploy.sh canary
 *               rollback: ./deploy.sh rollback canary
 *               runsOn: { role: deploy }
 *               watch: { seconds: 60, source: { scrape: http://app:8080/metrics }, metrics: [ … ] }
 */
import { z } from 'zod';
import { LABEL_KEY_RE, LABEL_RULES, LABEL_VALUE_RE, MAX_LABELS } from '../protocol.js';
import { watchSchema, type WatchSpec } from './watch.js';
import { stageSandboxSchema } from './sandbox.js';

export const MAX_STAGES = 10;
const STAGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const toNumber = (v: unknown) => typeof v === 'string' && /^\s*\d+(\.\d*)?\s*$/.test(v) ? Number(v) : v;

/** What the watcher is given: the immune system's one schema (server/config/watch.ts). */
export { watchSchema };
export type WatchConfig = WatchSpec;

const labelsSchema = z.record(z.string(), z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
  z.string().regex(LABEL_VALUE_RE, `must be a label value: ${LABEL_RULES} — runners offer it with --label key=value`)))
  .superRefine((labels, ctx) => {
    for (const key of Object.keys(labels)) {
      if (!LABEL_KEY_RE.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `is not a label key: ${LABEL_RULES}` });
    }
    if (Object.keys(labels).length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} labels` });
  });

export const stageSchema = z.strictObject({
  name: z.string().regex(STAGE_NAME_RE, 'must start with a letter or digit and use only letters, digits, ".", "_" and "-" — e.g. canary'),
  run: z.string().min(1, 'must not be empty — give the shell command that deploys this stage'),
  rollback: z.string().min(1, 'must not be empty — give the shell command that undoes this stage'),
  runsOn: labelsSchema.optional(), // absent: any runner
  timeout: z.preprocess(toNumber, z.number().min(1).max(86400)).default(600), // seconds without output
  watch: watchSchema.optional(), // absent: promoted as soon as `run` passes
  sandbox: stageSandboxSchema, // absent: network on, nothing kept; `keepProcesses: true` for a step that starts a long-lived app
});
export type StageConfig = z.infer<typeof stageSchema>;

export const branchDeploySchema = z.strictObject({
  stages: z.array(stageSchema).min(1, 'must list at least one stage, e.g. stages: [{ name: production, run: …, rollback: … }]')
    .max(MAX_STAGES, `must list at most ${MAX_STAGES} stages`)
    .superRefine((stages, ctx) => {
      const seen = new Set<string>();
      stages.forEach((s, i) => {
        if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${s.name}" is used twice — give each stage its own name` });
        seen.add(s.name);
      });
    }),
});
export type BranchDeployConfig = z.infer<typeof branchDeploySchema>;

/** branch → its deploy; each branch must be gated (checked in config.ts, which knows `gate`). */
export const deploySchema = z.record(z.string(), branchDeploySchema);
export type DeployConfig = z.infer<typeof deploySchema>;

/** Problems with a repository's `deploy:` that need the rest of it: each branch must be in `gate:`. */
export function checkDeployBranches(repo: { gate: string[]; deploy?: DeployConfig }): { path: (string | number)[]; message: string }[] {
  return Object.keys(repo.deploy ?? {}).filter((b) => !repo.gate.includes(b)).map((b) => ({
    path: ['deploy', b], message: `deploys branch "${b}", which is not gated — add it to gate: (deploys follow the gate's green heads) or remove it`,
  }));
}
