/**
 * A repository's feature flags in greengate.yml (issue 25; server/flags/ serves them over OFREP):
 *
 *   repositories:
 *     - name: shop
 *       flags:
 *         file: flags.json                      # in the repository, read at the head of its first gated branch
 *         token: ${SHOP_FLAGS_TOKEN}            # or tokenFile: /etc/greengate/shop-flags.token (relative: to greengate.yml)
 *         ratePerSecond: 2000                   # optional: OFREP evaluations per second (bursts of twice that); over → 429
 *         eventRetentionDays: 90                # optional: A/B test events (exposures, conversions) kept this many days (flags/eventRetention.ts)
 *         rollouts: { KEY: { variant, steps, hold, … } }  # optional: guarded incremental rollouts (config/rollouts.ts)
 *
 * The token is what an OpenFeature SDK sends (Authorization: Bearer, or X-API-Key) to evaluate this
 * repository's flags, and only this repository's: it is a secret (never logged, never on a page).
 * Checked at load (each problem names its key path and the fix): a gated branch to read the file
 * from; `file` a plain relative path inside the repository; exactly one of token/tokenFile; a token of
 * at least MIN_FLAGS_TOKEN characters (after reading its file, trailing whitespace dropped); every
 * flags token different from every other repository's and from runnerToken, adminToken and admins'.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Found } from './problems.js';
import { rolloutsSchema, type RolloutConfig } from './rollouts.js';

export const MIN_FLAGS_TOKEN = 16;
export const DEFAULT_FLAGS_RATE = 2000; // evaluations per second per repository (bursts of twice that)
export const DEFAULT_EVENT_RETENTION_DAYS = 90; // A/B test events older than this are pruned (a running experiment's excepted)
export interface FlagsConfig { file: string; token: string; tokenFile?: string; ratePerSecond?: number; eventRetentionDays?: number; rollouts?: Record<string, RolloutConfig> }

const SHORT = `must be at least ${MIN_FLAGS_TOKEN} characters — use a long random secret`;
export const flagsSchema = z.strictObject({
  file: z.string().min(1, 'must not be empty — give the flags file\'s path in the repository, e.g. flags.json')
    .refine((f) => !f.startsWith('/') && !f.split('/').some((p) => p === '..' || p === '.' || p === '') && !/[\x00-\x1f]/.test(f),
      'must be a plain path inside the repository, e.g. flags.json or config/flags.json (no leading "/", no ".." or "." parts)'),
  token: z.string().min(MIN_FLAGS_TOKEN, SHORT).optional(),
  tokenFile: z.string().min(1, 'must not be empty — give the path of a file holding the token').optional(),
  ratePerSecond: z.number('must be a number of evaluations per second from 1 to 1000000').int('must be a whole number of evaluations per second')
    .min(1, 'must be at least 1 evaluation per second').max(1_000_000, 'must be at most 1000000 evaluations per second').optional(), // absent: DEFAULT_FLAGS_RATE
  eventRetentionDays: z.number('must be a number of days from 1 to 36500').int('must be a whole number of days')
    .min(1, 'must be at least 1 day').max(36_500, 'must be at most 36500 days (100 years)').optional(), // absent: DEFAULT_EVENT_RETENTION_DAYS
  rollouts: rolloutsSchema, // absent: none (config/rollouts.ts)
}).superRefine((f, ctx) => {
  if ((f.token === undefined) === (f.tokenFile === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'needs exactly one of token: ${VAR} or tokenFile: PATH (what OpenFeature SDKs send to read these flags)' });
  }
}).optional();
export const FLAGS_KEYS = ['file', 'token', 'tokenFile', 'ratePerSecond', 'eventRetentionDays', 'rollouts'];

type Parsed = { file: string; token?: string; tokenFile?: string };
interface Checked {
  repositories: { gate: string[]; flags?: Parsed }[]; runnerToken: string; adminToken: string | null;
  admins?: { token?: string }[];
}

/** Reads each flags tokenFile (rewriting `token` in place) and checks tokens and gates; the problems found. */
export function checkFlags(c: Checked, baseDir: string): Found[] {
  const found: Found[] = [];
  const others = new Set([c.runnerToken, c.adminToken ?? '', ...(c.admins ?? []).map((a) => a.token ?? '')].filter(Boolean));
  const seen = new Map<string, number>();
  c.repositories.forEach((r, i) => {
    const f = r.flags;
    if (!f) return;
    const at = ['repositories', i, 'flags'];
    if (r.gate.length === 0) found.push({ path: at, message: 'are read at the head of the repository\'s first gated branch, but it has none — add gate: [main]' });
    if (f.tokenFile !== undefined) {
      const file = path.resolve(baseDir, f.tokenFile);
      try {
        f.token = fs.readFileSync(file, 'utf8').trimEnd();
        f.tokenFile = file;
      } catch (err) {
        found.push({ path: [...at, 'tokenFile'], message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}) — ` +
          'create it, or make it readable by the user running greengate' });
        return;
      }
      if (f.token.length < MIN_FLAGS_TOKEN) found.push({ path: [...at, 'tokenFile'], message: `${file} holds a token shorter than ${MIN_FLAGS_TOKEN} characters — use a long random secret` });
    }
    if (!f.token) return;
    if (others.has(f.token)) found.push({ path: at, message: 'has the same token as runnerToken, adminToken or an admin — give the flags their own token' });
    const same = seen.get(f.token);
    if (same !== undefined) found.push({ path: at, message: `has the same token as repositories[${same}].flags — each repository needs its own, or one could read the other's flags` });
    seen.set(f.token, i);
  });
  return found;
}
