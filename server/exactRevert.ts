/**
 * Exact reverts, checked with git and never read from a commit message. A commit C with one
 * parent P is the revert of commits X1..Xn (in that order) when C's tree is what `git revert
 * --no-commit X1 … Xn` makes on P: P's tree read into a scratch index, the reverse of each X's
 * diff (`git diff --full-index --binary X X^`) applied with `git apply --cached --3way`, then
 * `git write-tree`, compared with C^{tree}. A message saying "This reverts commit X" is only a
 * hint of which X to try first; a commit whose message names nothing, or lies, is judged by its tree.
 *
 * Where the objects come from: the bare repository, plus — for a push still being decided — git's
 * quarantine of that push (GIT_QUARANTINE_PATH, sent by the pre-receive hook; accepted only when it
 * is a directory right inside the repository's objects/). Nothing is written to either: the scratch
 * index and the objects git apply/write-tree make go to a temporary directory, removed afterwards.
 * Every git call is time-limited (GIT_TIMEOUT_MS) and a whole check has a deadline; a check that
 * runs out of time proves nothing (the push is then refused, never waved through).
 *
 * Candidates per commit, at most MAX_TRIES: first the allowed commits its message names (all of
 * them together, in the message's order: a multi-commit revert such as a deploy's), then each
 * allowed commit alone whose changed paths are exactly C's. Merge commits are never reverts.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { GgError } from './errors.js';

export const GIT_TIMEOUT_MS = 5_000; // 5 seconds: one git call
export const CHECK_BUDGET_MS = 8_000; // 8 seconds: one push's checks: under the hook's default 15 s wait
export const MAX_TRIES = 20; // candidate reverts tried per commit
export const MAX_SCANNED = 200; // commits looked at when searching a branch for an existing revert
const MAX_OUTPUT = 64 * 1024 * 1024;
const NAMED = /This reverts commit ([0-9a-f]{7,64})\b/gi;
const QUARANTINE = /^(?:tmp_objdir-)?incoming-[A-Za-z0-9_]{1,64}$/;

export interface Objects { bare: string; quarantine?: string | null }
export interface Candidate { sha: string; message: string }

/** The quarantine directory the hook named, when it really is one of this repository's; else null. */
export function checkedQuarantine(bare: string, path: string | null | undefined): string | null {
  if (!path) return null;
  try {
    const real = realpathSync(path);
    if (!statSync(real).isDirectory() || !QUARANTINE.test(basename(real))) return null;
    return dirname(real) === realpathSync(join(bare, 'objects')) ? real : null;
  } catch {
    return null;
  }
}

/** The allowed commits a message names ("This reverts commit <prefix>"), in the message's order, each once. */
export function namedIn(message: string, allowed: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of message.matchAll(NAMED)) {
    const prefix = m[1].toLowerCase();
    const hits = allowed.filter((sha) => sha.toLowerCase().startsWith(prefix));
    if (hits.length === 1 && !out.includes(hits[0])) out.push(hits[0]);
  }
  return out;
}

/**
 * Which of `commits` (a push's new commits) are exact reverts of commits in `allowed`: a map from
 * each proven commit to the commits it reverts. Commits not in the map proved nothing.
 */
export async function proveReverts(objects: Objects, commits: readonly Candidate[], allowed: readonly string[],
  budgetMs = CHECK_BUDGET_MS): Promise<Map<string, string[]>> {
  const proven = new Map<string, string[]>();
  if (commits.length === 0 || allowed.length === 0) return proven;
  return withScratch(objects, Date.now() + budgetMs, async (git) => {
    const paths = await pathsOf(git, allowed);
    for (const c of commits) {
      const reverted = await revertedBy(git, c, allowed, paths).catch(() => null); // an unreadable commit proves nothing
      if (reverted) proven.set(c.sha, reverted);
    }
    return proven;
  }).catch(() => proven);
}

/**
 * A commit on `head` since `since` (excluded), newest first, that is an exact revert of one of
 * `sets` (each a list of commits reverted together, in order); null when none is, or when the
 * search ran out of time. Only commits touching the sets' paths are looked at (MAX_SCANNED).
 */
export async function findExactRevert(bare: string, head: string, since: string, sets: readonly (readonly string[])[],
  budgetMs = CHECK_BUDGET_MS): Promise<{ sha: string; reverted: string[] } | null> {
  const shas = [...new Set(sets.flat())];
  if (shas.length === 0) return null;
  return withScratch({ bare }, Date.now() + budgetMs, async (git) => {
    const paths = await pathsOf(git, shas);
    const touched = [...new Set(shas.flatMap((s) => paths.get(s) ?? []))];
    if (touched.length === 0) return null;
    const listed = await git.run(['rev-list', '--no-merges', `--max-count=${MAX_SCANNED}`, head, `^${since}`, '--', ...touched.map((p) => `:(literal)${p}`)]);
    for (const sha of listed.split('\n').filter(Boolean)) {
      const shape = await shapeOf(git, sha);
      if (!shape) continue;
      for (const set of sets) {
        if (await git.revertTree(shape.parent, set).catch(() => null) === shape.tree) return { sha, reverted: [...set] };
      }
    }
    return null;
  }).catch(() => null);
}

async function revertedBy(git: Scratch, c: Candidate, allowed: readonly string[], paths: Map<string, string[]>): Promise<string[] | null> {
  const shape = await shapeOf(git, c.sha);
  if (!shape) return null;
  const changed = (await git.run(['diff-tree', '-r', '--name-only', '--no-renames', '--no-commit-id', shape.parent, c.sha])).split('\n').filter(Boolean).sort();
  const tries: string[][] = [];
  const named = namedIn(c.message, allowed);
  if (named.length) tries.push(named);
  for (const sha of allowed) {
    if (tries.length >= MAX_TRIES) break;
    if (named.length === 1 && named[0] === sha) continue;
    const own = paths.get(sha);
    if (own && own.length === changed.length && own.every((p, i) => p === changed[i])) tries.push([sha]);
  }
  for (const set of tries) {
    if (await git.revertTree(shape.parent, set).catch(() => null) === shape.tree) return set;
  }
  return null;
}

/** A commit's tree and its only parent; null for a merge or a root commit. */
async function shapeOf(git: Scratch, sha: string): Promise<{ tree: string; parent: string } | null> {
  const [tree, parents] = (await git.run(['show', '-s', '--format=%T%x00%P', sha])).trim().split('\0');
  const list = (parents ?? '').split(' ').filter(Boolean);
  return list.length === 1 ? { tree, parent: list[0] } : null;
}

/** The paths each commit changes against its first parent (sorted); merges and root commits have none. */
async function pathsOf(git: Scratch, shas: readonly string[]): Promise<Map<string, string[]>> {
  const out = await git.run(['log', '--no-walk=unsorted', '--stdin', '--no-renames', '--name-only', '--format=%x01%H'], shas.join('\n') + '\n');
  const map = new Map<string, string[]>();
  for (const rec of out.split('\x01').filter(Boolean)) {
    const [sha, ...names] = rec.split('\n').map((l) => l.trim()).filter(Boolean);
    map.set(sha, names.sort());
  }
  return map;
}

class Scratch {
  constructor(private readonly env: NodeJS.ProcessEnv, private readonly deadline: number) {}

  /** The tree `git revert --no-commit ...shas` makes on `parent`, or null when it does not apply cleanly. */
  async revertTree(parent: string, shas: readonly string[]): Promise<string | null> {
    await this.run(['read-tree', parent]);
    for (const sha of shas) {
      const patch = await this.run(['diff', '--no-ext-diff', '--no-textconv', '--no-renames', '--full-index', '--binary', sha, `${sha}^`, '--']);
      if (patch === '') continue;
      if (!(await this.attempt(['apply', '--cached', '--3way', '--whitespace=nowarn', '-'], patch)).ok) return null;
    }
    const written = await this.attempt(['write-tree']);
    return written.ok ? written.stdout.trim() : null;
  }

  async run(args: readonly string[], input?: string): Promise<string> {
    const r = await this.attempt(args, input);
    if (!r.ok) throw new GgError('GG_GIT_FAILED', `git ${args[0]} in ${this.env.GIT_DIR} failed: ${r.stderr.trim().split('\n', 1)[0]}`);
    return r.stdout;
  }

  attempt(args: readonly string[], input?: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    const timeout = Math.min(GIT_TIMEOUT_MS, this.deadline - Date.now());
    if (timeout <= 0) return Promise.reject(new GgError('GG_GIT_TIMEOUT', `the revert check in ${this.env.GIT_DIR} ran out of time before git ${args[0]}`));
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { env: this.env, stdio: ['pipe', 'pipe', 'pipe'], timeout, killSignal: 'SIGKILL' });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      child.stdout.on('data', (b: Buffer) => { size += b.length; if (size <= MAX_OUTPUT) out.push(b); else child.kill('SIGKILL'); });
      child.stderr.on('data', (b: Buffer) => { if (err.length < 64) err.push(b); });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
      child.on('error', reject);
      child.on('close', (code, signal) => {
        if (signal) return reject(new GgError('GG_GIT_TIMEOUT', `git ${args[0]} in ${this.env.GIT_DIR} was stopped (${signal}): over ${timeout} ms or too much output`));
        resolve({ ok: code === 0, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });
  }
}

async function withScratch<T>(objects: Objects, deadline: number, fn: (git: Scratch) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'greengate-revert-'));
  try {
    mkdirSync(join(dir, 'objects'));
    const alternates = [objects.quarantine, join(objects.bare, 'objects')].filter((p): p is string => !!p);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: dir, LC_ALL: 'C', GIT_DIR: objects.bare, GIT_INDEX_FILE: join(dir, 'index'),
      GIT_OBJECT_DIRECTORY: join(dir, 'objects'), GIT_ALTERNATE_OBJECT_DIRECTORIES: alternates.join(':'),
      GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0',
    };
    return await fn(new Scratch(env, deadline));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
