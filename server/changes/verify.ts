/**
 * Change notices are hints; git is the truth. Before a notice from `POST /api/changes` is taken
 * in, each update's ref is read from the bare repository and compared with the notice's `new`.
 * Reading: the ref's loose file, else its line in packed-refs (git's own files backend, read
 * without starting a process: the notice is on the push → build path); whenever that does not
 * give a commit id (a missing ref, a symbolic ref, a name outside plain ASCII, another ref
 * storage) one `git for-each-ref` for those refs decides, with exact ref names only.
 *   - git has the ref at `new` (or, for a deletion, has no such ref) → the update is taken in;
 *   - anything else → the update is dropped: it is logged (warn) and counted by the caller, and
 *     the caller has the repository scanned, so what git says is built instead.
 * A notice can therefore only make the server build what is already in git, sooner.
 *
 * Pure of side effects except the git read; errors: GgError GG_BAD_SHA / GG_BAD_REF for a
 * malformed update (nothing is read), GitError when git cannot be run.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { git, isSha, ZERO_SHA } from '../git.js';
import { GgError } from '../errors.js';
import type { Logger } from 'pino';
import type { RepositoryConfig } from '../config/config.js';
import type { ChangeSource, NoticeResult, RefChanges, RefUpdate } from './refs.js';

export const MAX_NOTICE_UPDATES = 1000;
/** How long the hook's notice waits for its builds (so the hook prints their links); after it, the answer has none. Other notices answer once recorded. */
export const NOTICE_BUILDS_WAIT_MS = 5000; // a busy server plans a big first build for seconds (cold plan: file sizes from git)
const REF = /^refs\/[^\0\n]{1,1000}$/;

export interface DroppedUpdate { ref: string; claimed: string; git: string | null }
export interface CheckedNotice { agreed: RefUpdate[]; dropped: DroppedUpdate[] }

const ID = /^([0-9a-f]{40}|[0-9a-f]{64})\n?$/;
const PLAIN_PART = /^[A-Za-z0-9_+@-][A-Za-z0-9._+@-]*$/;

/** A ref name that is safe to join to the repository path: plain parts, no "..", no ".lock". */
function isPlainRef(ref: string): boolean {
  return ref.startsWith('refs/') && ref.split('/').every((part) => PLAIN_PART.test(part) && !part.includes('..') && !part.endsWith('.lock'));
}

const packedCache = new Map<string, { key: string; refs: Map<string, string> }>();

function readPacked(repoPath: string): Map<string, string> {
  const file = join(repoPath, 'packed-refs');
  let key: string;
  try {
    const st = statSync(file);
    key = `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return new Map();
  }
  const cached = packedCache.get(repoPath);
  if (cached?.key === key) return cached.refs;
  const refs = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (refs\/\S+)$/.exec(line);
    if (m) refs.set(m[2], m[1]);
  }
  packedCache.set(repoPath, { key, refs });
  return refs;
}

/** The ref's commit id from git's files backend, or undefined when only git itself can tell. */
function readRefFile(repoPath: string, ref: string): string | undefined {
  if (!isPlainRef(ref)) return undefined;
  try {
    return ID.exec(readFileSync(join(repoPath, ref), 'utf8'))?.[1];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
  }
  return readPacked(repoPath).get(ref);
}

/** The current value of each named ref, exactly as git has it; a missing ref is absent. */
export async function readRefs(repoPath: string, refs: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const wanted = new Set<string>();
  for (const ref of refs) {
    const sha = readRefFile(repoPath, ref);
    if (sha) found.set(ref, sha);
    else wanted.add(ref);
  }
  if (wanted.size === 0) return found;
  const out = await git(repoPath, ['for-each-ref', '--format=%(objectname) %(refname)', ...wanted]);
  for (const line of out.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const name = line.slice(space + 1);
    if (wanted.has(name)) found.set(name, line.slice(0, space));
  }
  return found;
}

/** Splits a notice's updates into those git agrees with and those it does not. */
export async function checkNotice(repoPath: string, updates: readonly RefUpdate[]): Promise<CheckedNotice> {
  if (updates.length > MAX_NOTICE_UPDATES) {
    throw new GgError('GG_BAD_REQUEST', `a change notice may hold at most ${MAX_NOTICE_UPDATES} updates; send several`);
  }
  for (const u of updates) {
    if (!isSha(u.old) || !isSha(u.new)) throw new GgError('GG_BAD_SHA', `update of ${u.ref.slice(0, 100)}: old and new must be 40-character hex commit ids`);
    if (!REF.test(u.ref)) throw new GgError('GG_BAD_REF', `"${u.ref.slice(0, 100)}" is not a full ref name (refs/heads/…)`);
  }
  const actual = await readRefs(repoPath, updates.map((u) => u.ref));
  const agreed: RefUpdate[] = [];
  const dropped: DroppedUpdate[] = [];
  for (const u of updates) {
    const now = actual.get(u.ref) ?? null;
    if (now === (u.new === ZERO_SHA ? null : u.new)) agreed.push(u);
    else dropped.push({ ref: u.ref, claimed: u.new, git: now });
  }
  return { agreed, dropped };
}

export interface NoticeDeps {
  changes: Pick<RefChanges, 'notice' | 'scan'>;
  /** Counts updates dropped for disagreeing with git. */
  countDropped(n: number): void;
  log: Logger;
}

/**
 * A change notice taken as a hint: the updates git agrees with are taken in; the others are
 * dropped (logged, counted), and the repository is scanned so what git says is built.
 */
export async function takeNotice(deps: NoticeDeps, repo: RepositoryConfig, updates: readonly RefUpdate[], source: ChangeSource,
  pusher: string | null): Promise<{ accepted: NoticeResult[]; dropped: DroppedUpdate[] }> {
  const { agreed, dropped } = await checkNotice(repo.path, updates);
  if (dropped.length) {
    deps.countDropped(dropped.length);
    deps.log.warn({ repo: repo.name, dropped }, 'change notice disagrees with git: dropped; building what git says');
    deps.changes.scan(repo.name, 'watch').catch((err) => deps.log.warn({ err, repo: repo.name }, 'ref scan failed'));
  }
  const accepted = agreed.length ? await deps.changes.notice(repo.name, agreed, source, pusher, { answerWhenRecorded: true,
    waitForBuildsMs: source === 'hook' ? NOTICE_BUILDS_WAIT_MS : 0 }) : [];
  return { accepted, dropped };
}
