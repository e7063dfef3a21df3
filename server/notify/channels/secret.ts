/**
 * A channel's secret in `notify:` (a webhook's signing secret, SMTP credentials): `{ env: NAME }`
 * (the server's environment), `{ file: /path }` (resolved against the config's folder at load), or
 * `{ value: "…" }` in the YAML itself. Read when a notification is sent (a rotated secret applies),
 * and once at config load so a missing one is a config error naming its key. A leaf.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { fail } from '../../errors.js';

export type NotifySecret = { env: string } | { file: string } | { value: string };

export const secretSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name') }),
  z.strictObject({ file: z.string().min(1, 'must not be empty — give the path of the file holding the secret') }),
  z.strictObject({ value: z.string().min(1, 'must not be empty') }),
], { error: 'must be { env: NAME } (the server\'s environment) or { file: /path/to/file } — { value: "…" } only if it must be in this file' });

/** Reads a secret now; throws GG_SECRET_UNAVAILABLE naming what is missing and the fix. */
export function readNotifySecret(what: string, source: NotifySecret, env: NodeJS.ProcessEnv = process.env): string {
  if ('value' in source) return source.value;
  if ('env' in source) {
    const v = env[source.env];
    if (v === undefined || v === '') fail('GG_SECRET_UNAVAILABLE', `${what}: environment variable ${source.env} is not set on the server — export it before starting greengate`);
    return v;
  }
  try {
    return fs.readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    fail('GG_SECRET_UNAVAILABLE', `${what}: cannot read ${source.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}) — ` +
      'create it, or make it readable by the user running greengate');
  }
}
