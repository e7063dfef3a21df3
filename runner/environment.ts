/**
 * The environment a unit runs with: an allowlist, never the runner's whole environment. A unit
 * gets PATH, HOME, LANG, TZ, TMPDIR from the runner (when set), its repository's package cache
 * (npm_config_cache, YARN_CACHE_FOLDER, npm_config_store_dir: runner/packageCache.ts), CI=true, greengate's build
 * variables, the names its builder lists in `env:` (from the runner's environment), its build's
 * params (never over those names, greengate's own or a secret's), its
 * builder's secrets, its matrix step's variables, and its own credential GREENGATE_UNIT_TOKEN (when the server sent one). The
 * runner's and admin's tokens never reach it, even when listed.
 */
import type { AssignMessage } from '../server/protocol.js';
import { NODE_TEST_REPORTER_PATH } from './nodeTestReporter.js';

export const PASSED_THROUGH = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'] as const;
/** Variables holding greengate's own tokens: never given to a unit, always redacted from its log. */
export const TOKEN_VARIABLES = ['GREENGATE_RUNNER_TOKEN', 'GREENGATE_ADMIN_TOKEN'] as const;

export function buildUnitEnv(a: AssignMessage, runnerName: string, parent: NodeJS.ProcessEnv = process.env,
  runnerVars: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) if (parent[name] !== undefined) env[name] = parent[name]!;
  // The runner's own (its package cache, runner/packageCache.ts): the builder's names below win.
  Object.assign(env, runnerVars);
  for (const name of a.builder.env ?? []) {
    if (/^GREENGATE/i.test(name) || (TOKEN_VARIABLES as readonly string[]).includes(name)) continue;
    if (parent[name] !== undefined) env[name] = parent[name]!;
  }
  // The build's params (the server refuses names that would override these; refused here too).
  for (const [name, value] of Object.entries(a.builder.params ?? {})) {
    if (/^GREENGATE/i.test(name) || (PASSED_THROUGH as readonly string[]).includes(name) || name === 'CI') continue;
    if (a.builder.env?.includes(name) || (a.builder.secrets && name in a.builder.secrets)) continue;
    env[name] = value;
  }
  Object.assign(env, {
    CI: 'true',
    GREENGATE: 'true',
    GREENGATE_BUILD: String(a.build),
    GREENGATE_COMMIT: a.sha,
    GREENGATE_BRANCH: a.branch,
    GREENGATE_REF: a.ref,
    GREENGATE_UNIT: String(a.unit),
    GREENGATE_ATTEMPT: String(a.attempt),
    GREENGATE_RUNNER: runnerName,
    GREENGATE_NODE_TEST_REPORTER: NODE_TEST_REPORTER_PATH, // greengate's node:test reporter (every test with its file)
  });
  for (const [name, value] of Object.entries(a.builder.vars ?? {})) {
    if (!/^GREENGATE/i.test(name) && !(TOKEN_VARIABLES as readonly string[]).includes(name)) env[name] = value;
  }
  // This unit's own credential (valid for its repository while it runs), never the runner's token.
  if (a.unitToken) env.GREENGATE_UNIT_TOKEN = a.unitToken;
  for (const [name, value] of Object.entries(a.builder.secrets ?? {})) {
    if (!/^GREENGATE/i.test(name)) env[name] = value;
  }
  return env;
}

/** Values to redact from a unit's log: its secrets, the runner's token, and any token in the runner's environment. */
export function redactedValues(a: AssignMessage, runnerToken: string, parent: NodeJS.ProcessEnv = process.env): string[] {
  const values = [...Object.values(a.builder.secrets ?? {}), runnerToken];
  for (const name of TOKEN_VARIABLES) if (parent[name]) values.push(parent[name]!);
  return values;
}
