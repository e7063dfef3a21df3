/**
 * Builder environment and secrets in greengate.yml:
 *
 *   env: [NPM_CONFIG_CACHE]                 # names passed from the runner's own environment
 *   secrets:
 *     NPM_TOKEN: { env: NPM_TOKEN }         # from the server's environment
 *     DEPLOY_KEY: { file: /etc/greengate/deploy_key }   # a file on the server (relative: to greengate.yml)
 *
 * A unit sees only an allowlisted environment (runner/environment.ts) plus these. Secrets are
 * read on the server and sent with each unit of their builder only; values shorter than
 * MIN_SECRET_LENGTH are refused here because they could not be redacted from logs. Start-up
 * checks that every source is set and readable (a config error names the key and the fix);
 * `readSecret` reads the value again when a unit is handed out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MIN_SECRET_LENGTH } from '../protocol.js';
import type { Found } from './problems.js';
import { fail } from '../errors.js';

export type SecretSource = { env: string } | { file: string };

/** Variables every unit gets from the runner or greengate itself: not for env: or secrets:. */
export const ALLOWLISTED_ENV = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'CI'] as const;

const envNameSchema = z.string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name: letters, digits and "_", not starting with a digit')
  .refine((n) => !/^GREENGATE/i.test(n), 'GREENGATE_* variables are set by greengate, and its tokens never reach a unit — choose another name');

/** `env:` of a builder: names taken from the runner's environment. */
export const builderEnvSchema = z.array(envNameSchema).max(100, 'at most 100 names').optional();

const secretSourceSchema = z.union([
  z.strictObject({ env: envNameSchema }),
  z.strictObject({ file: z.string().min(1, 'must not be empty — give the path of the file holding the secret') }),
], { error: 'must be { env: NAME } (from the server\'s environment) or { file: /path/to/file } (a file on the server)' });

/** `secrets:` of a builder: NAME → where the server reads its value. */
export const builderSecretsSchema = z.record(z.string(), secretSourceSchema).superRefine((secrets, ctx) => {
  for (const name of Object.keys(secrets)) {
    const named = envNameSchema.safeParse(name);
    if (!named.success) ctx.addIssue({ code: 'custom', path: [name], message: named.error.issues[0].message });
    else if ((ALLOWLISTED_ENV as readonly string[]).includes(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `must not be one of ${ALLOWLISTED_ENV.join(', ')} — greengate sets those` });
    }
  }
}).optional();

/** Reads a secret's value; throws GG_SECRET_UNAVAILABLE saying what is missing and how to fix it. */
export function readSecret(name: string, source: SecretSource, env: NodeJS.ProcessEnv = process.env): string {
  let value: string;
  if ('env' in source) {
    const v = env[source.env];
    if (v === undefined || v === '') {
      fail('GG_SECRET_UNAVAILABLE', `secret ${name}: environment variable ${source.env} is not set on the server — export it before starting greengate`);
    }
    value = v;
  } else {
    try {
      value = fs.readFileSync(source.file, 'utf8');
    } catch (err) {
      fail('GG_SECRET_UNAVAILABLE', `secret ${name}: cannot read ${source.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}) — ` +
        'create it, or make it readable by the user running greengate');
    }
  }
  if (value.trim().length < MIN_SECRET_LENGTH) {
    fail('GG_SECRET_UNAVAILABLE', `secret ${name} is shorter than ${MIN_SECRET_LENGTH} characters, so it could not be redacted from logs — use a longer secret`);
  }
  return value;
}

interface BuilderLike { env?: readonly string[]; secrets?: Record<string, SecretSource> }

/**
 * Resolves file paths against the config's folder and checks each secret can be read now.
 * Returns the problems found (key path + fix); the builders' `secrets` are rewritten in place.
 */
export function checkBuilderSecrets(repos: { builders: BuilderLike[] }[], baseDir: string, env: NodeJS.ProcessEnv): Found[] {
  const found: Found[] = [];
  repos.forEach((repo, i) => repo.builders.forEach((builder, j) => {
    const at = ['repositories', i, 'builders', j];
    if (!builder.secrets) return;
    const resolved: Record<string, SecretSource> = {};
    for (const [name, source] of Object.entries(builder.secrets)) {
      const fixed = 'file' in source ? { file: path.resolve(baseDir, source.file) } : source;
      resolved[name] = fixed;
      if (builder.env?.includes(name)) {
        found.push({ path: [...at, 'env'], message: `"${name}" is also a secret of this builder — list it in one place only` });
      }
      try {
        readSecret(name, fixed, env);
      } catch (err) {
        found.push({ path: [...at, 'secrets', name, 'env' in source ? 'env' : 'file'], message: (err as Error).message });
      }
    }
    builder.secrets = resolved;
  }));
  return found;
}
