/**
 * The hook secret: what proves that a `POST /api/gate/:repo` or `POST /api/changes` comes from
 * the repository's own hooks. One random secret per bare repository, in the file
 * `<bare repo>/greengate-hook-secret` (HOOK_SECRET_FILE), mode 0600, so only the repository's
 * owner (the user git runs the hooks as) can read it. The file is the one HTTP header line the
 * hooks send, `X-Greengate-Hook-Secret: <64 hex digits>`, so the hook hands it to curl as it is
 * (`curl -H @FILE`): no shell variable, no command line, no extra process.
 *
 * Lifecycle: `greengate hook install` creates it (ensureHookSecret; an existing secret is kept,
 * its mode set to 0600 again). The hooks read it with a shell builtin and send it in the header
 * HOOK_SECRET_HEADER (never on a command line). The server has the repository's path from
 * greengate.yml and reads the same file (HookSecrets, re-read when the file changes), so there
 * is nothing to copy. To rotate: delete the file and run `greengate hook install` again.
 *
 * The server does not trust a secret file that other users can read (group/other mode bits):
 * such a request answers 401 saying to reinstall. Comparison is constant-time.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, openSync, closeSync, writeSync, readFileSync, statSync, constants } from 'node:fs';
import { join } from 'node:path';
import { GgError } from '../errors.js';

export const HOOK_SECRET_FILE = 'greengate-hook-secret';
export const HOOK_SECRET_HEADER = 'x-greengate-hook-secret';
const LINE = /^X-Greengate-Hook-Secret: ([0-9a-f]{64})\r?\n?$/;

function parseSecretFile(text: string): string | null {
  return LINE.exec(text)?.[1] ?? null;
}

/** The secret in the repository's file, or null when it is missing or malformed. */
export function readHookSecret(bareRepo: string): string | null {
  try {
    return parseSecretFile(readFileSync(hookSecretPath(bareRepo), 'utf8'));
  } catch {
    return null;
  }
}

export function hookSecretPath(bareRepo: string): string {
  return join(bareRepo, HOOK_SECRET_FILE);
}

/** Creates the repository's secret file if missing (mode 0600) and returns the secret. */
export function ensureHookSecret(bareRepo: string): string {
  const path = hookSecretPath(bareRepo);
  try {
    const existing = parseSecretFile(readFileSync(path, 'utf8'));
    if (existing) {
      chmodSync(path, 0o600);
      return existing;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('hex');
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  try {
    writeSync(fd, `X-Greengate-Hook-Secret: ${secret}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
  return secret;
}

interface Cached { key: string; secret: string | null; problem: string | null }

/** The server's view of each repository's hook secret, read from its file. */
export class HookSecrets {
  private readonly cache = new Map<string, Cached>();

  /** Throws GG_HOOK_SECRET (401) unless `given` is the secret of the repository at `bareRepo`. */
  check(repoName: string, bareRepo: string, given: string | undefined): void {
    const { secret, problem } = this.read(bareRepo);
    if (!secret) {
      throw new GgError('GG_HOOK_SECRET', `repository "${repoName}" has no usable hook secret on the server (${problem}): ` +
        'run `greengate hook install BARE_REPO --server URL` on the git server');
    }
    if (!given) {
      throw new GgError('GG_HOOK_SECRET', `this call needs the hook secret of "${repoName}" in the ${HOOK_SECRET_HEADER} header; ` +
        'only the repository\'s hooks have it (reinstall them with `greengate hook install` if they are older)');
    }
    if (!secretsEqual(given, secret)) {
      throw new GgError('GG_HOOK_SECRET', `wrong hook secret for "${repoName}": reinstall the hooks with \`greengate hook install\` so they send the secret in the repository's ${HOOK_SECRET_FILE}`);
    }
  }

  private read(bareRepo: string): Cached {
    const path = hookSecretPath(bareRepo);
    let key: string;
    let mode: number;
    try {
      const st = statSync(path);
      key = `${st.ino}:${st.mtimeMs}:${st.size}:${st.mode}`;
      mode = st.mode;
    } catch {
      return { key: '', secret: null, problem: `${HOOK_SECRET_FILE} is missing` };
    }
    const cached = this.cache.get(bareRepo);
    if (cached?.key === key) return cached;
    let entry: Cached;
    if (mode & 0o077) {
      entry = { key, secret: null, problem: `${HOOK_SECRET_FILE} can be read by other users (mode ${(mode & 0o777).toString(8)}), so it is not trusted` };
    } else {
      const secret = parseSecretFile(readFileSync(path, 'utf8'));
      entry = secret ? { key, secret, problem: null } : { key, secret: null, problem: `${HOOK_SECRET_FILE} is not one line "X-Greengate-Hook-Secret: <64 hex digits>"` };
    }
    this.cache.set(bareRepo, entry);
    return entry;
  }
}

function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The server's one cache of hook secrets (keyed by repository path; re-read when a file changes). */
export const hookSecrets = new HookSecrets();
