/**
 * Read-only clone tokens in greengate.yml, for people and tools fetching code at /git/*:
 *
 *   cloneToken: ${GREENGATE_CLONE_TOKEN}     # one token
 *   readTokens: [${GG_TOOLS_TOKEN}, …]       # more, e.g. one per tool
 *
 * Accepted by web/gitHttp.ts for fetches of every repository; never a runner token (the runner
 * socket compares only runnerToken), so whoever holds one cannot register a runner nor receive
 * builder secrets. Each is at least MIN_CLONE_TOKEN characters and differs from runnerToken
 * (checked at load, naming the key).
 */
import { z } from 'zod';
import type { Found } from './problems.js';

export const MIN_CLONE_TOKEN = 16;
const SHORT = `must be at least ${MIN_CLONE_TOKEN} characters — use a long random secret`;
const SAME = 'must differ from runnerToken — a clone token must not be able to register a runner; use another long random secret';

export const cloneTokenSchema = z.preprocess((v) => (v === '' ? null : v), z.string().min(MIN_CLONE_TOKEN, SHORT).nullable()).optional();
export const readTokensSchema = z.array(z.string().min(MIN_CLONE_TOKEN, SHORT)).max(100, 'at most 100 tokens').optional();

interface CloneTokens { cloneToken?: string | null; readTokens?: string[] }

/** The read-only clone tokens (cloneToken, then readTokens). */
export function readTokensOf(config: CloneTokens): string[] {
  return [...(config.cloneToken ? [config.cloneToken] : []), ...(config.readTokens ?? [])];
}

/** A clone token equal to the runner token would let whoever holds it register a runner: refused. */
export function checkReadTokens(c: CloneTokens & { runnerToken: string }): Found[] {
  const found: Found[] = [];
  if (c.cloneToken && c.cloneToken === c.runnerToken) found.push({ path: ['cloneToken'], message: SAME });
  (c.readTokens ?? []).forEach((t, i) => { if (t === c.runnerToken) found.push({ path: ['readTokens', i], message: SAME }); });
  return found;
}
