/**
 * The hook secret: what proves that a `POST /api/gate/:repo` or `POST /api/changes` comes from
 * the repository's own hooks. One random secret per repository, in two copies:
 *
 * - the hook's copy, `<bare repo>/greengate-hook-secret` (HOOK_SECRET_FILE), owned by the
 *   repository's owner, mode 0600 — or 0640 with the repository's group when the repository is
 *   shared with a group (core.sharedRepository), so every pushing user's hook can read it. The file
 *   is the one HTTP header line the hooks send, `X-Greengate-Hook-Secret: <64 hex digits>`, so the
 *   hook hands it to curl as it is (`curl -H @FILE`): no shell variable, no command line.
 * - the server's copy, `<data>/hook-secrets/<repo name>` (serverSecretPath), mode 0600, owned by
 *   the server's user, written only by the server (PUT /api/repos/:repo/hook-secret, admin only,
 *   which `greengate hook install --admin-token-file FILE` calls).
 *
 * The server authenticates hooks with its own copy and never reads a file inside a repository for
 * it — with one exception that keeps single-user installs working: when it has no copy of its own
 * and the repository's file is owned by the server's own user with mode 0600 (the server owns the
 * repositories), it reads that file (as before issue 22). Any other file is not trusted (401).
 *
 * Lifecycle: `greengate hook install` creates the hook's copy (ensureHookSecret; an existing
 * secret is kept, its mode and group set again) and, given the admin token, registers it with
 * the server. To rotate: delete the file and run `greengate hook install` again (with the admin
 * token when the server keeps a copy). docs/operations.md "Users, groups and modes" is the model.
 * Comparison is constant-time.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, chownSync, openSync, closeSync, writeSync, readFileSync, statSync, mkdirSync, renameSync, writeFileSync, constants, type Stats } from 'node:fs';
import { join } from 'node:path';
import { GgError } from '../errors.js';

export const HOOK_SECRET_FILE = 'greengate-hook-secret';
export const HOOK_SECRET_HEADER = 'x-greengate-hook-secret';
export const SERVER_SECRETS_DIR = 'hook-secrets';
export const SECRET = /^[0-9a-f]{64}$/;
const LINE = /^X-Greengate-Hook-Secret: ([0-9a-f]{64})\r?\n?$/;

function parseSecretFile(text: string): string | null {
  return LINE.exec(text)?.[1] ?? null;
}

/** The secret in the repository's file, or null when it is missing, unreadable or malformed. */
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

/** The server's copy of a repository's secret: `<data>/hook-secrets/<repo name>`. */
export function serverSecretPath(dataDir: string, repoName: string): string {
  return join(dataDir, SERVER_SECRETS_DIR, repoName);
}

/** The server's copy, or null when it has none (or it is malformed). */
export function readServerSecret(dataDir: string, repoName: string): string | null {
  try {
    return parseSecretFile(readFileSync(serverSecretPath(dataDir, repoName), 'utf8'));
  } catch {
    return null;
  }
}

/** Writes the server's copy (directory 0700, file 0600, replaced atomically). */
export function storeServerSecret(dataDir: string, repoName: string, secret: string): void {
  if (!SECRET.test(secret)) throw new GgError('GG_HOOK_SECRET', 'a hook secret is 64 lowercase hex digits');
  const dir = join(dataDir, SERVER_SECRETS_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = serverSecretPath(dataDir, repoName);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `X-Greengate-Hook-Secret: ${secret}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Who may read the hook's copy: only the owner (0600), or the owner and `gid` (0640). */
export interface SecretAccess { mode: 0o600 | 0o640; uid?: number; gid?: number }

/** Creates the repository's secret file if missing, sets its owner/group/mode, and returns the secret. */
export function ensureHookSecret(bareRepo: string, access: SecretAccess = { mode: 0o600 }): string {
  const path = hookSecretPath(bareRepo);
  let secret: string | null = null;
  try {
    secret = parseSecretFile(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!secret) {
    secret = randomBytes(32).toString('hex');
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      writeSync(fd, `X-Greengate-Hook-Secret: ${secret}\n`);
    } finally {
      closeSync(fd);
    }
  }
  chmodSync(path, 0o600); // never readable by more than intended, even for a moment
  if (access.uid !== undefined || access.gid !== undefined) chownSync(path, access.uid ?? -1, access.gid ?? -1);
  chmodSync(path, access.mode);
  return secret;
}

interface Cached { key: string; secret: string | null; problem: string | null }

const myUid = (): number | undefined => process.getuid?.();

/** The server's view of each repository's hook secret: its own copy, else (single-user) the repository's file. */
export class HookSecrets {
  private readonly cache = new Map<string, Cached>();

  /** Throws GG_HOOK_SECRET (401) unless `given` is the secret of repository `repoName`. */
  check(repoName: string, bareRepo: string, given: string | undefined, dataDir?: string): void {
    const { secret, problem } = this.read(repoName, bareRepo, dataDir);
    if (!secret) {
      throw new GgError('GG_HOOK_SECRET', `repository "${repoName}" has no usable hook secret on the server (${problem}): ` +
        'run `greengate hook install BARE_REPO --server URL --admin-token-file FILE` on the git server (docs/operations.md, "Users, groups and modes")');
    }
    if (!given) {
      throw new GgError('GG_HOOK_SECRET', `this call needs the hook secret of "${repoName}" in the ${HOOK_SECRET_HEADER} header; ` +
        'only the repository\'s hooks have it (reinstall them with `greengate hook install` if they are older)');
    }
    if (!secretsEqual(given, secret)) {
      throw new GgError('GG_HOOK_SECRET', `wrong hook secret for "${repoName}": run \`greengate hook install ... --admin-token-file FILE\` again so the server's copy and the repository's ${HOOK_SECRET_FILE} agree`);
    }
  }

  /** Forgets what was read for this repository (after the server's copy changed). */
  forget(repoName: string): void {
    for (const k of [...this.cache.keys()]) if (k.startsWith(`${repoName}\0`)) this.cache.delete(k);
  }

  private read(repoName: string, bareRepo: string, dataDir: string | undefined): Cached {
    if (dataDir) {
      const own = this.readFile(`${repoName}\0server`, serverSecretPath(dataDir, repoName), false);
      if (own) return own;
    }
    return this.readFile(`${repoName}\0${bareRepo}`, hookSecretPath(bareRepo), true)
      ?? { key: '', secret: null, problem: `the server has no copy of its own and ${HOOK_SECRET_FILE} is missing or unreadable by the server's user` };
  }

  /** null when the file does not exist (or cannot be stat'ed). */
  private readFile(cacheKey: string, path: string, inRepository: boolean): Cached | null {
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      return null;
    }
    const key = `${st.ino}:${st.mtimeMs}:${st.size}:${st.mode}:${st.uid}`;
    const cached = this.cache.get(cacheKey);
    if (cached?.key === key) return cached;
    const mode = (st.mode & 0o777).toString(8);
    let entry: Cached;
    const uid = myUid();
    if (inRepository && uid !== undefined && st.uid !== uid) {
      entry = { key, secret: null, problem: `the server has no copy of its own, and ${path} belongs to uid ${st.uid}, not to the server's user (uid ${uid}), so it is not trusted` };
    } else if (st.mode & 0o077) {
      entry = { key, secret: null, problem: `${path} can be read by other users (mode ${mode}), so it is not trusted` };
    } else {
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        text = `unreadable: ${(err as NodeJS.ErrnoException).code}`;
      }
      const secret = parseSecretFile(text);
      entry = secret ? { key, secret, problem: null } : { key, secret: null, problem: `${path} is not one line "X-Greengate-Hook-Secret: <64 hex digits>"` };
    }
    this.cache.set(cacheKey, entry);
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
