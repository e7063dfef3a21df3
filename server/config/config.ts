/**
 * greengate.yml: read once at start-up, validated against one strict schema, frozen, then
 * passed explicitly to whoever needs it. Nothing else reads the file or its variables again.
 *
 * Steps: YAML (syntax errors carry line and column) → `${VAR}` and `${VAR:-default}` expand from
 * the environment in every string value, never in keys (`$${` is a literal `${`; `:-` also
 * applies when the variable is empty) → zod, strict (unknown keys are errors; numeric strings
 * count as numbers, so `port: ${PORT}` works; an empty string in an optional text field means
 * null) → duplicate names → `data` and repository paths resolved against the config file's
 * folder, trailing "/" dropped from baseUrl → deep freeze.
 *
 * Errors: one ConfigError (code GG_CONFIG_INVALID) listing every problem found, one per line as
 * `file:line:col: key.path: what is wrong — how to fix it`, at most MAX_REPORTED_PROBLEMS lines.
 * Its keyPath is the first problem's ('' for the document as a whole); `problems` holds all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isWorkspacePattern, MAX_CACHE_ITEMS } from '../protocol.js';
import { LABEL_KEY_RE, LABEL_RULES, LABEL_VALUE_RE, MAX_LABELS } from '../protocol.js';
import { ConfigError, describeIssue, findDuplicates, formatPath, readYaml, type Found, type Path } from './problems.js';
import { autoRevertSchema, checkAutoRevert, culpritSchema, CULPRIT_KEYS, type CulpritConfig } from './culprit.js';
import { builderEnvSchema, builderSecretsSchema, checkBuilderSecrets, type SecretSource } from './secrets.js';
import { checkNotifySecrets, NOTIFY_KEYS, notifySchema, type NotifyConfig } from './notify.js';
import { checkDeployBranches, deploySchema, type DeployConfig } from './deploy.js';
import { checkReadTokens, cloneTokenSchema, readTokensSchema } from './cloneTokens.js';
import { adminsSchema, checkAdmins, type AdminConfig } from './admins.js';
import { builderSandboxSchema, SANDBOX_KEYS, type SandboxConfig } from './sandbox.js';
import { hostSchema } from './listen.js';
import { checkGrantSecrets, checkPipelineKeys, pipelinePathSchema, pipelineGrantsSchema, type PipelineGrant } from './pipelineGrants.js';
import { builderScheduleSchema, type ScheduleConfig } from './schedule.js';
import { builderParamsSchema, checkParamNames, type ParamConfig } from './params.js';
import { checkFlags, FLAGS_KEYS, flagsSchema, type FlagsConfig } from './flags.js';
import { checkSteps, stepsSchema, STEP_KEYS, type StepInput } from './steps.js';
import { ARTIFACT_LIMIT_KEYS, artifactLimitsSchema, builderArtifactsSchema, type ArtifactLimits } from './artifacts.js';

export { ConfigError, MAX_REPORTED_PROBLEMS, type ConfigProblem } from './problems.js';
export { readTokensOf } from './cloneTokens.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface BuilderConfig {
  name: string;
  setup: string | null;
  /** Test files to shard: one glob or a list (picomatch, matched against the commit's paths). */
  tests: string | string[] | null;
  /** Globs of files that `tests` matches but are not test files (fixtures, helpers); absent means none. */
  exclude?: string[];
  run: string;
  junit: string | null;
  timeout: number; // seconds without progress before a unit fails
  quarantine: string[];
  unitTargetSeconds: number;
  /**
   * How test files become units. dynamic (the default, also when absent): longest-first batches
   * planned from learned durations; static: one equal-count batch per slot, in name order (the
   * naive split of other CI systems, kept for comparison).
   */
  split?: 'dynamic' | 'static';
  /** Names of the runner's environment variables its units may see (absent: none). */
  env?: string[];
  /** Secrets sent with each of its units (absent: none); see config/secrets.ts. */
  secrets?: Record<string, SecretSource>;
  /** Log bytes a unit may write (absent: DEFAULT_MAX_LOG_BYTES, 32 MiB). */
  maxLogBytes?: number;
  /**
   * What a runner keeps in a slot's workspace between builds, and the files whose content keys
   * it (runner/cache.ts). Absent: the defaults for node and python; []: nothing is kept.
   */
  cache?: CacheConfig[];
  /** Run instead of `setup` when every cache entry was kept (absent: setup is skipped then). */
  setupOnHit?: string;
  /** Labels a runner must have (every key with this value) to take this builder's units; absent: any runner. */
  runsOn?: Record<string, string>;
  /** What its units' sandbox opens (config/sandbox.ts); absent: network on, nothing else. */
  sandbox?: SandboxConfig;
  /** When the server builds a branch head by itself (config/schedule.ts); absent: never. */
  schedule?: ScheduleConfig;
  /** Declared params, passed to its units as environment variables (config/params.ts); absent: none. */
  params?: ParamConfig[];
  /** Its steps as written (config/steps.ts; read them through stepsOf); absent: one step, `run` (then '' when steps are given). */
  steps?: readonly StepInput[];
  /** Globs of workspace files uploaded when each unit ends (config/artifacts.ts); absent: none. */
  artifacts?: string[];
}
export interface CacheConfig {
  paths: string[]; // relative to the workspace root; gitignore patterns (`**/node_modules`)
  key: string[]; // globs of tracked files, matched at the commit
}
export interface RepositoryConfig {
  name: string;
  path: string; // absolute
  gate: string[];
  builders: BuilderConfig[];
  /** Where runners fetch the code when it is hosted elsewhere; absent: this server serves `path` at /git/<name>.git. */
  cloneUrl?: string;
  /** Who is told about this repository's events; each key replaces the top-level notify's (config/notify.ts). */
  notify?: NotifyConfig;
  /** Gated branches whose confirmed culprits are reverted automatically (true: all of them); see config/culprit.ts. */
  autoRevert?: boolean | string[];
  /** The culprit search and automatic revert settings (absent: defaults). */
  culprit?: CulpritConfig;
  /** Per gated branch: the stages a green head is deployed through (server/config/deploy.ts); absent: no deploys. */
  deploy?: DeployConfig;
  /** A path in the repository whose `builders:` replace these at each commit (config/pipeline.ts); absent: `builders:` here. */
  pipeline?: string;
  /** Per builder name: what a pipeline file's builder may use (config/pipeline.ts); absent: nothing beyond the defaults. */
  pipelineGrants?: Record<string, PipelineGrant>;
  /** Feature flags served from a file in the repository (config/flags.ts); absent: none. */
  flags?: FlagsConfig;
  /** Per gated branch: `queue` takes pushes to refs/for/<branch> into the land queue, `queue-only` also refuses direct pushes (server/queue/). */
  land?: Record<string, 'queue' | 'queue-only'>;
}
export interface Config {
  port: number;
  /** The address to listen on (config/listen.ts); absent: 0.0.0.0. */
  host?: string;
  data: string; // absolute
  baseUrl: string | null;
  runnerToken: string;
  adminToken: string | null;
  /** Named admins (config/admins.ts), each token read; absent: only adminToken, if set. */
  admins?: AdminConfig[];
  /** Read-only token for people's and tools' clones at /git/* (absent: none); never registers a runner. */
  cloneToken?: string | null;
  /** More read-only clone tokens, like cloneToken (absent: none). */
  readTokens?: string[];
  /** Bearer token Alertmanager's webhook sends to POST /api/alertmanager (absent: the route refuses every call). */
  alertmanagerToken?: string | null;
  repositories: RepositoryConfig[];
  /** Days to keep finished builds' logs and the builds themselves (absent: forever); see server/retention.ts. */
  retention?: RetentionConfig;
  /** Notification defaults for every repository (absent: nobody is told); see config/notify.ts. */
  notify?: NotifyConfig;
  /** Artifact size limits (config/artifacts.ts); absent: 1 GiB per file, 5 GiB per build. */
  artifactLimits?: ArtifactLimits;
}
export interface RetentionConfig { logsDays?: number; buildsDays?: number }
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
const configSchema = z.strictObject(configShape);
const KEYS_AT: Record<string, string[]> = { '': Object.keys(configShape), retention: ['logsDays', 'buildsDays'], artifactLimits: ARTIFACT_LIMIT_KEYS,
  repositories: Object.keys(repositoryShape), 'repositories.builders': [...Object.keys(builderShape), 'steps'],
  'repositories.builders.steps': STEP_KEYS,
  'repositories.builders.params': ['name', 'default', 'choices'], 'repositories.builders.schedule': ['cron', 'branch'],
  admins: ['name', 'token', 'tokenFile'], 'repositories.builders.cache': Object.keys(cacheShape), 'repositories.culprit': CULPRIT_KEYS, 'repositories.flags': FLAGS_KEYS, ...NOTIFY_KEYS,
  'repositories.builders.sandbox': SANDBOX_KEYS.filter((k) => k !== 'keepProcesses'), 'repositories.deploy.stages.sandbox': SANDBOX_KEYS };


/** Parses YAML text; `${VAR}` in any string expands from env before validation. */
export function parseConfig(
  text: string,
  opts: { file?: string | null; env?: NodeJS.ProcessEnv; baseDir: string; checkPaths?: boolean },
): Readonly<Config> {
  const file = opts.file ?? null;
  const { raw, where, fail } = readYaml(text, file);
  const envFile = file === null ? 'greengate.yml' : path.basename(file);
  const found: Found[] = [];
  const data = expandValue(raw, [], opts.env ?? process.env, envFile, found);
  const envPaths = found.map((f) => formatPath(f.path));
  const result = configSchema.superRefine((c, ctx) => c.repositories.forEach((r, i) => {
    for (const p of checkDeployBranches(r)) ctx.addIssue({ code: 'custom', path: ['repositories', i, ...p.path], message: p.message });
    for (const p of checkPipelineKeys(r)) ctx.addIssue({ code: 'custom', path: ['repositories', i, ...p.path], message: p.message });
  })).safeParse(data);
  for (const issue of result.success ? [] : result.error.issues) {
    const key = formatPath(issue.path);
    if (envPaths.some((p) => key === p || key.startsWith(`${p}.`) || key.startsWith(`${p}[`))) continue;
    found.push(...describeIssue(issue, data, KEYS_AT));
  }
  findDuplicates(data, found, (at) => where(at).line);
  ((data as { repositories?: unknown }).repositories as { builders?: unknown }[] | undefined)?.forEach?.((r, i) =>
    (Array.isArray(r?.builders) ? r.builders : []).forEach((b, j) => found.push(...checkSteps(b, ['repositories', i, 'builders', j]))));
  if (result.success) found.push(...checkBuilderSecrets(result.data.repositories.map((r) => ({ builders: r.builders ?? [] })), opts.baseDir, opts.env ?? process.env));
  if (result.success) found.push(...checkGrantSecrets(result.data.repositories, opts.baseDir, opts.env ?? process.env));
  if (result.success) found.push(...checkNotifySecrets(result.data, opts.baseDir, opts.env ?? process.env));
  if (result.success) found.push(...checkAutoRevert(result.data.repositories));
  if (result.success) found.push(...checkReadTokens(result.data));
  if (result.success) found.push(...checkAdmins(result.data, opts.baseDir));
  if (result.success) found.push(...checkFlags(result.data, opts.baseDir)); // after checkAdmins: admins' tokens are read
  if (result.success && opts.checkPaths) found.push(...checkRepositoryPaths(result.data.repositories, opts.baseDir));
  if (!result.success || found.length > 0) return fail(found);
  const { admins, ...cfg } = result.data;
  return freezeDeep<Config>({ ...cfg, data: path.resolve(opts.baseDir, cfg.data),
    baseUrl: cfg.baseUrl === null ? null : cfg.baseUrl.replace(/\/+$/, ''),
    ...(admins ? { admins: admins as AdminConfig[] } : {}), // every token set: checkAdmins read each tokenFile
    repositories: cfg.repositories.map(({ flags, ...r }) => ({ ...r, builders: r.builders ?? [], path: path.resolve(opts.baseDir, r.path),
      ...(flags ? { flags: flags as FlagsConfig } : {}) })) }); // every flags token set: checkFlags read each tokenFile
}

/** checkPaths: each repository's path must be a bare git repository on this host (what `serve` needs). */
export function loadConfig(file: string, env?: NodeJS.ProcessEnv, opts: { checkPaths?: boolean } = {}): Readonly<Config> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = e.code === 'ENOENT'
      ? `config file not found (looked at ${path.resolve(file)}) — create it, or pass --config PATH`
      : `cannot read the config file: ${e.message}`;
    throw new ConfigError([{ keyPath: '', message, line: null, column: null }], file);
  }
  return parseConfig(text, { file, env, baseDir: path.dirname(path.resolve(file)), checkPaths: opts.checkPaths });
}

function checkRepositoryPaths(repositories: readonly { path: string }[], baseDir: string): Found[] {
  const found: Found[] = [];
  repositories.forEach((repo, i) => {
    const at = ['repositories', i, 'path'];
    const full = path.resolve(baseDir, repo.path);
    let stat: fs.Stats | null = null;
    try { stat = fs.statSync(full); } catch { /* reported below */ }
    if (!stat) {
      found.push({ path: at, message: `${full} does not exist — create the bare repository there (git init --bare ${full}) or fix the path` });
    } else if (!stat.isDirectory()) {
      found.push({ path: at, message: `${full} is not a directory — give the path of a bare git repository` });
    } else if (!fs.existsSync(path.join(full, 'HEAD')) || !fs.existsSync(path.join(full, 'objects'))) {
      found.push({ path: at, message: `${full} is not a bare git repository (no HEAD or objects/ in it) — give the repository people push to` });
    }
  });
  return found;
}

/** `${VAR}`, `${VAR:-default}`, `$${` (a literal) and a bad `${`; expandValue reports unset and bad ones in `out`. */
const VAR_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

export function expandValue(value: unknown, at: Path, env: NodeJS.ProcessEnv, file: string, out: Found[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR_RE, (match: string, name?: string, fallback?: string) => {
      if (match === '$${') return '${';
      if (name === undefined) {
        out.push({ path: at, message: 'has "${" without a valid "NAME}" after it — write ${NAME}, ' +
          '${NAME:-default}, or $${ for a literal "${"' });
        return match;
      }
      const set = env[name];
      if (set !== undefined && (fallback === undefined || set !== '')) return set;
      if (fallback !== undefined) return fallback;
      out.push({ path: at, message: `environment variable ${name} is not set ` +
        `(export it, or write the value in ${file})` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandValue(v, [...at, i], env, file, out));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandValue(v, [...at, k], env, file, out)]));
}

function freezeDeep<T>(value: T): Readonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freezeDeep(v);
  }
  return value;
}
