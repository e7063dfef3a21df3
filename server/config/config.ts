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
 * The schema itself (zod shapes, keys per path) is config/schema.ts; this module loads and resolves.
 *
 * Errors: one ConfigError (code GG_CONFIG_INVALID) listing every problem found, one per line as
 * `file:line:col: key.path: what is wrong — how to fix it`, at most MAX_REPORTED_PROBLEMS lines.
 * Its keyPath is the first problem's ('' for the document as a whole); `problems` holds all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, describeIssue, findDuplicates, formatPath, readYaml, type Found, type Path } from './problems.js';
import { checkAutoRevert, type CulpritConfig } from './culprit.js';
import { checkBuilderSecrets, type SecretSource } from './secrets.js';
import { checkNotifySecrets, type NotifyConfig } from './notify.js';
import { checkDeployBranches, type DeployConfig } from './deploy.js';
import { checkReadTokens } from './cloneTokens.js';
import { checkAdmins, type AdminConfig } from './admins.js';
import { type SandboxConfig } from './sandbox.js';
import { checkGrantSecrets, checkPipelineKeys, type PipelineGrant } from './pipelineGrants.js';
import { type ScheduleConfig } from './schedule.js';
import { type ParamConfig } from './params.js';
import { checkFlags, type FlagsConfig } from './flags.js';
import { checkSteps, type StepInput } from './steps.js';
import { type ArtifactLimits } from './artifacts.js';
import { configSchema, KEYS_AT } from './schema.js';

export { ConfigError, MAX_REPORTED_PROBLEMS, type ConfigProblem } from './problems.js';
export { readTokensOf } from './cloneTokens.js';
// The schema moved to config/schema.ts; these stay importable from here.
export { builderSchema, BUILDER_KEYS_AT, isCloneUrl, isValidBranchName } from './schema.js';

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
