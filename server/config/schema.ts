/**
 * greengate.yml's schema: the zod shapes of the top level, a repository and a builder, the
 * checks that span keys of one object, and the keys allowed at each key path (for "did you
 * mean"). config/config.ts parses with it; config/pipeline.ts parses a pipeline file's builders
 * with builderSchema. Nothing here reads files or the environment.
 */
import { z } from 'zod';
import { isWorkspacePattern, MAX_CACHE_ITEMS } from '../protocol.js';
import { LABEL_KEY_RE, LABEL_RULES, LABEL_VALUE_RE, MAX_LABELS } from '../protocol.js';
import { autoRevertSchema, culpritSchema, CULPRIT_KEYS } from './culprit.js';
import { builderEnvSchema, builderSecretsSchema } from './secrets.js';
import { NOTIFY_KEYS, notifySchema } from './notify.js';
import { deploySchema } from './deploy.js';
import { cloneTokenSchema, readTokensSchema } from './cloneTokens.js';
import { adminsSchema } from './admins.js';
import { builderSandboxSchema, SANDBOX_KEYS } from './sandbox.js';
import { hostSchema } from './listen.js';
import { pipelinePathSchema, pipelineGrantsSchema } from './pipelineGrants.js';
import { builderScheduleSchema, type ScheduleConfig } from './schedule.js';
import { builderParamsSchema, checkParamNames } from './params.js';
import { FLAGS_KEYS, flagsSchema } from './flags.js';
import { stepsSchema, STEP_KEYS } from './steps.js';
import { ARTIFACT_LIMIT_KEYS, artifactLimitsSchema, builderArtifactsSchema } from './artifacts.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Checks a branch name by git's check-ref-format rules (as `git check-ref-format --branch`). */
export function isValidBranchName(name: string): boolean {
  if (typeof name !== 'string' || name === '' || name === '@' || name === 'HEAD') return false;
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  if (name.includes('..') || name.includes('@{') || name.includes('//')) return false;
  if (/^[-/]/.test(name) || /[/.]$/.test(name)) return false;
  return name.split('/').every((part) => !part.startsWith('.') && !part.endsWith('.lock'));
}

const toNumber = (v: unknown) =>
  typeof v === 'string' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$/.test(v) ? Number(v) : v;
const emptyToNull = (v: unknown) => (v === '' ? null : v);
const optionalText = z.preprocess(emptyToNull, z.string().nullable()).default(null);
const nameSchema = z.string().regex(NAME_RE, 'must start with a letter or digit and use only ' +
  'letters, digits, ".", "_" and "-", at most 63 characters — rename it');
const branchSchema = z.string().refine(isValidBranchName, {
  error: (iss) => `"${String(iss.input)}" is not a valid git branch name — no spaces, "..", ` +
    '"@{", "//", or any of ~^:?*[\\; not starting with "-" or "/"; not ending with "/", "." or ".lock"',
});
function numberIn(min: number, max: number, fallback: number, unit: string, whole: boolean) {
  const msg = `must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}${unit}`;
  const base = whole ? z.number().int(msg) : z.number();
  return z.preprocess(toNumber, base.min(min, msg).max(max, msg)).default(fallback);
}
const workspacePattern = (what: string, example: string) => z.string().refine(isWorkspacePattern,
  `must be a ${what} relative to the workspace root, without "..", ".git" or a leading "/", e.g. ${example}`);
const cacheShape = {
  paths: z.array(workspacePattern('path', 'node_modules')).min(1, 'must list at least one path to keep, e.g. paths: [node_modules]')
    .max(MAX_CACHE_ITEMS, `must list at most ${MAX_CACHE_ITEMS} paths — use a glob`),
  key: z.array(workspacePattern('file or glob', 'package-lock.json')).min(1,
    'must list at least one file whose content keys the cache, e.g. key: [package-lock.json]')
    .max(MAX_CACHE_ITEMS, `must list at most ${MAX_CACHE_ITEMS} files — use a glob`),
};
/** A URL git can fetch from without this server's help: http(s)://, ssh://, git://, file://, or scp-like user@host:path. */
export function isCloneUrl(s: string): boolean {
  if (/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/.test(s)) return true;
  return URL.canParse(s) && /^(https?|ssh|git|file):$/.test(new URL(s).protocol) && !/\s/.test(s);
}
const RETENTION_MESSAGE = 'must be a whole number of days from 1 to 36500 — or remove it to keep everything';
const isHttpUrl = (s: string) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol);

/** Why a file glob cannot work, or null. Globs match repository paths such as test/a.test.js. */
function checkGlob(glob: string, key: 'tests' | 'exclude'): string | null {
  if (glob.trim() === '') return 'must not be empty — give a glob such as "test/**/*.test.js"';
  if (glob.startsWith('/') || /^[A-Za-z]:[\\/]/.test(glob)) {
    return `"${glob}" is absolute; globs match paths inside the repository — write it relative, e.g. "${glob.replace(/^(\/+|[A-Za-z]:[\\/]+)/, '')}"`;
  }
  if (glob.split('/').includes('..')) return `"${glob}" leaves the repository with ".." — write a path inside it`;
  if (glob.startsWith('!')) {
    return key === 'tests' ? `"${glob}" is a negation — list the files to leave out under exclude: instead, e.g. exclude: ["${glob.slice(1)}"]`
      : `"${glob}" is a negation — exclude: already leaves out what it matches; write "${glob.slice(1)}"`;
  }
  return null;
}

/** One glob or a list of them; each checked, the position of a bad one named. */
function globsSchema(key: 'tests' | 'exclude') {
  const example = key === 'tests' ? '["test/**/*.test.js", "src/**/*.spec.ts"]' : '["test/fixtures/**"]';
  return z.union([z.string(), z.array(z.string())], { error: `must be a glob or a list of globs, e.g. ${example}` })
    .superRefine((value, ctx) => {
      const globs = typeof value === 'string' ? [value] : value;
      if (globs.length === 0) ctx.addIssue({ code: 'custom', message: `must list at least one glob, e.g. ${example}` });
      globs.forEach((glob, i) => {
        const problem = checkGlob(glob, key);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, path: typeof value === 'string' ? [] : [i] });
      });
    });
}

const builderShape = {
  name: nameSchema,
  setup: optionalText,
  tests: z.preprocess(emptyToNull, globsSchema('tests').nullable()).default(null),
  exclude: globsSchema('exclude').transform((v) => (typeof v === 'string' ? [v] : v)).optional(), // absent: nothing excluded
  run: z.string().min(1, 'must not be empty — give the shell command that runs the tests').optional(), // required without steps (config/steps.ts)
  junit: optionalText,
  timeout: numberIn(1, 86400, 600, ' seconds', false), // 10 minutes without progress
  quarantine: z.array(z.string().min(1, 'must not be empty — give a test name')).default([]),
  unitTargetSeconds: numberIn(0.1, 3600, 2, ' seconds', false),
  split: z.enum(['dynamic', 'static'], 'must be "dynamic" (longest-first queue, the default) or "static" (equal-count batches)')
    .optional(), // absent means dynamic; no default, so a parsed builder only shows it when set
  env: builderEnvSchema,
  secrets: builderSecretsSchema,
  maxLogBytes: z.preprocess(toNumber, z.number().int('must be a whole number of bytes from 1024 to 1073741824')
    .min(1024, 'must be a whole number of bytes from 1024 to 1073741824')
    .max(2 ** 30, 'must be a whole number of bytes from 1024 to 1073741824')).optional(), // absent: 32 MiB
  cache: z.array(z.strictObject(cacheShape)).max(MAX_CACHE_ITEMS, `must have at most ${MAX_CACHE_ITEMS} entries`).optional(), // absent: the node and python defaults (runner/cache.ts)
  setupOnHit: z.string().min(1, 'must not be empty — remove it to skip setup on a cache hit').optional(),
  runsOn: z.record(z.string(), z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
    z.string().regex(LABEL_VALUE_RE, `must be a label value: ${LABEL_RULES} — runners offer it with --label key=value`)))
    .superRefine((labels, ctx) => {
      for (const key of Object.keys(labels)) {
        if (!LABEL_KEY_RE.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `is not a label key: ${LABEL_RULES}` });
      }
      if (Object.keys(labels).length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} labels` });
    }).optional(),
  sandbox: builderSandboxSchema,
  schedule: builderScheduleSchema(branchSchema),
  params: builderParamsSchema,
  artifacts: builderArtifactsSchema,
};
/** `cache` and `setupOnHit` are about what `setup` makes: without a setup they would do nothing. */
function checkSetupNeeded(b: { setup: string | null; cache?: unknown[]; setupOnHit?: string }, ctx: z.RefinementCtx): void {
  if (b.setup !== null) return;
  if (b.cache?.length) ctx.addIssue({ code: 'custom', path: ['cache'], message: 'keeps what setup makes, but this builder has no setup — add setup: (e.g. npm ci) or remove cache' });
  if (b.setupOnHit !== undefined) ctx.addIssue({ code: 'custom', path: ['setupOnHit'], message: 'replaces setup on a cache hit, but this builder has no setup — add setup: or remove setupOnHit' });
}
/** One builder of `builders:`, in greengate.yml and in a repository's pipeline file (config/pipeline.ts). */
export const builderSchema = z.strictObject({ ...builderShape, steps: stepsSchema(builderShape) }).superRefine(checkSetupNeeded)
  .superRefine(checkParamNames).transform((b) => ({ ...b, run: b.run ?? '' }));
/** The keys allowed under a builder, by key path below it ('' for the builder itself): for "did you mean" in a pipeline file. */
export const BUILDER_KEYS_AT: Record<string, string[]> = { '': [...Object.keys(builderShape), 'steps'], steps: STEP_KEYS, cache: Object.keys(cacheShape),
  params: ['name', 'default', 'choices'], schedule: ['cron', 'branch'],
  sandbox: SANDBOX_KEYS.filter((k) => k !== 'keepProcesses') };
const repositoryShape = {
  name: nameSchema,
  path: z.string().min(1, 'must not be empty — give the bare repository, e.g. /srv/git/shop.git'),
  gate: z.array(branchSchema).default([]),
  cloneUrl: z.string().refine(isCloneUrl, 'must be a URL git can fetch from (https://, ssh://, git://, file:// or ' +
    'user@host:path) — or remove it to let runners fetch from this server').optional(),
  autoRevert: autoRevertSchema,
  culprit: culpritSchema,
  builders: z.array(builderSchema)
    .min(1, 'must list at least one builder, e.g. builders: [{ name: unit, run: npm test }]').optional(), // absent: only with pipeline:
  pipeline: pipelinePathSchema, // absent: builders: above
  pipelineGrants: pipelineGrantsSchema, // absent: nothing granted
  notify: notifySchema, // absent: the top-level notify
  deploy: deploySchema.optional(), // absent: nothing is deployed
  flags: flagsSchema, // absent: no feature flags (config/flags.ts)
  land: z.record(branchSchema, z.enum(['queue', 'queue-only'], { error: 'must be queue (refs/for/<branch> as well as direct pushes) or queue-only (direct pushes refused)' }))
    .optional(), // absent: no land queue (server/queue/)
};
/** A `schedule:` without its own branch builds the first gated one: the repository needs one. */
function checkLandBranches(r: { gate: string[]; land?: Record<string, string> }, ctx: z.RefinementCtx): void {
  for (const branch of Object.keys(r.land ?? {})) {
    if (!r.gate.includes(branch)) ctx.addIssue({ code: 'custom', path: ['land', branch], message: `"${branch}" is not in this repository's gate: — a land queue serves a gated branch; add it to gate:` });
  }
}
function checkScheduleBranch(r: { gate: string[]; builders?: { schedule?: ScheduleConfig }[] }, ctx: z.RefinementCtx): void {
  (r.builders ?? []).forEach((b, i) => {
    if (b.schedule && b.schedule.branch === null && r.gate.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['builders', i, 'schedule'], message: 'builds the first gate: branch, but this repository has no gate: — write schedule: { cron: "…", branch: main }' });
    }
  });
}
const configShape = {
  port: numberIn(0, 65535, 8010, '', true),
  data: z.string().min(1, 'must not be empty — remove it to use ./.greengate').default('./.greengate'),
  baseUrl: z.preprocess(emptyToNull, z.string()
    .refine(isHttpUrl, 'must be an http:// or https:// URL, e.g. https://ci.example.com').nullable())
    .default(null),
  runnerToken: z.string().min(8, 'must be at least 8 characters — use a long random secret'),
  adminToken: optionalText,
  admins: adminsSchema, // absent: only adminToken
  cloneToken: cloneTokenSchema, // absent: no clone token
  readTokens: readTokensSchema, // absent: none
  alertmanagerToken: z.preprocess(emptyToNull, z.string().min(16, "must be at least 16 characters — use a long random secret").nullable()).optional(), // absent: the webhook refuses every call
  repositories: z.array(z.strictObject(repositoryShape).superRefine(checkScheduleBranch).superRefine(checkLandBranches)).default([]),
  retention: z.strictObject({ // absent (no default): keep everything
    logsDays: z.preprocess(toNumber, z.number().int(RETENTION_MESSAGE).min(1, RETENTION_MESSAGE).max(36500, RETENTION_MESSAGE))
      .optional(), // absent: logs live as long as their builds
    buildsDays: z.preprocess(toNumber, z.number().int(RETENTION_MESSAGE).min(1, RETENTION_MESSAGE).max(36500, RETENTION_MESSAGE))
      .optional(), // absent: builds are kept forever
  }).optional(),
  notify: notifySchema, // absent: nobody is told
  host: hostSchema, // absent: 0.0.0.0 (config/listen.ts)
  artifactLimits: artifactLimitsSchema, // absent: 1 GiB per file, 5 GiB per build (config/artifacts.ts)
};
export const configSchema = z.strictObject(configShape);
export const KEYS_AT: Record<string, string[]> = { '': Object.keys(configShape), retention: ['logsDays', 'buildsDays'], artifactLimits: ARTIFACT_LIMIT_KEYS,
  repositories: Object.keys(repositoryShape), 'repositories.builders': [...Object.keys(builderShape), 'steps'],
  'repositories.builders.steps': STEP_KEYS,
  'repositories.builders.params': ['name', 'default', 'choices'], 'repositories.builders.schedule': ['cron', 'branch'],
  admins: ['name', 'token', 'tokenFile'], 'repositories.builders.cache': Object.keys(cacheShape), 'repositories.culprit': CULPRIT_KEYS, 'repositories.flags': FLAGS_KEYS, ...NOTIFY_KEYS,
  'repositories.builders.sandbox': SANDBOX_KEYS.filter((k) => k !== 'keepProcesses'), 'repositories.deploy.stages.sandbox': SANDBOX_KEYS };
