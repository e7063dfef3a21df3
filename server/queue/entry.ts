/**
 * Queue entry: the server's side of `git push origin HEAD:refs/for/<branch>`. The repository's
 * proc-receive hook (cli/procReceive.ts) sends the pushed updates to `POST /api/queue/:repo` with the
 * hook secret; nothing in the request is believed without git: the branch must have a land queue
 * in greengate.yml (`land: { <branch>: queue | queue-only }`), the pushed id must be a commit in
 * the repository (git has already moved a proc-receive push's objects out of its quarantine when
 * the hook runs) and the branch must exist. Each accepted change gets a row (store/landQueue.ts)
 * and the hidden ref refs/greengate/queue/<id> (made right after the answer), which keeps its
 * commits reachable; `main` is not touched. A change the gate would let through the closed tree (a proven
 * revert, or a Fixes-build claim, of the red build: queue/jump.ts) is recorded as jumping to the front. Answers each change's id, position and link, or GG_QUEUE_REFUSED saying why.
 */
import type { RepositoryConfig } from '../config/config.js';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import { fail } from '../errors.js';
import { isSha, ZERO_SHA } from '../git.js';
import { gitRun } from './candidate.js';
import type { BranchGate } from '../gate/rules.js';
import { jumpOf, type Jump } from './jump.js';

export const QUEUE_REF_PREFIX = 'refs/for/';
export const HIDDEN_REF_PREFIX = 'refs/greengate/queue/';
export interface QueuedAnswer { id: number; ref: string; branch: string; position: number; url: string }
export interface EntryDeps {
  store: Pick<Store, 'repos' | 'landQueue' | 'tx'>; baseUrl(): string; now(): number; queued(repo: string, branch: string): void;
  log?: Pick<Logger, 'warn'>;
  /** The gate's view of the repository's branches: a change the closed tree would let through jumps the queue (queue/jump.ts). */
  gate?(repo: string): (branch: string) => BranchGate;
}

/** The branch a refs/for/ ref names, or null. */
export function branchOfQueueRef(ref: string): string | null {
  return ref.startsWith(QUEUE_REF_PREFIX) && ref.length > QUEUE_REF_PREFIX.length ? ref.slice(QUEUE_REF_PREFIX.length) : null;
}

export function queueLink(baseUrl: string, repo: string, branch: string): string {
  return `${baseUrl}/queue/${encodeURIComponent(repo)}/${encodeURIComponent(branch)}`;
}

/** Takes in the pushed updates of refs/for/*: each queued, or GG_QUEUE_REFUSED (nothing queued) naming the first refused one. */
export async function enqueue(deps: EntryDeps, repo: RepositoryConfig, updates: readonly { old: string; new: string; ref: string }[],
  pusher: string | null): Promise<QueuedAnswer[]> {
  const checked: { ref: string; branch: string; commit: string; base: string; jump: Jump | null }[] = [];
  for (const u of updates) {
    const branch = branchOfQueueRef(u.ref);
    if (branch === null) fail('GG_QUEUE_REFUSED', `${u.ref.slice(0, 200)} is not a queue ref: push to refs/for/<branch>`);
    const mode = repo.land?.[branch];
    if (!mode) {
      const queued = Object.keys(repo.land ?? {});
      fail('GG_QUEUE_REFUSED', `branch "${branch.slice(0, 200)}" of ${repo.name} has no land queue (${queued.length ? `queued branches: ${queued.join(', ')}` : 'none has one'}): ` +
        `push to one of them, or add land: { ${branch.slice(0, 100)}: queue } to the repository in greengate.yml`);
    }
    if (!isSha(u.new) || u.new === ZERO_SHA) fail('GG_QUEUE_REFUSED', `${u.ref}: a queue ref cannot be deleted; push a commit to it`);
    // One git process: `<new>^{commit}` and the branch head, each its sha or its name back (`missing` when git knows neither).
    const [commit, base] = (await gitRun(repo.path, ['cat-file', '--batch-check=%(objectname)'], [0], `${u.new}^{commit}\nrefs/heads/${branch}^{commit}\n`)
      .then((r) => r.out, () => '')).split('\n');
    if (commit !== u.new) fail('GG_QUEUE_REFUSED', `${u.ref}: ${u.new} is not a commit in ${repo.name}: push a commit`);
    if (!isSha(base ?? '')) fail('GG_QUEUE_REFUSED', `branch "${branch}" does not exist in ${repo.name} yet: push it directly first`);
    // Only while the tree is closed (a revert or fix of the red build jumps): no git call otherwise.
    const jump = deps.gate ? await jumpOf(repo.path, deps.gate(repo.name), branch, base, u.new) : null;
    checked.push({ ref: u.ref, branch, commit: u.new, base, jump });
  }
  const row = deps.store.repos.byName(repo.name);
  if (!row) fail('GG_UNKNOWN_REPO', `repository "${repo.name}" is not known to the server yet: restart it after adding it to greengate.yml`);
  const answers: QueuedAnswer[] = [];
  for (const c of checked) {
    const id = deps.store.landQueue.add({ repoId: row.id, branch: c.branch, commitSha: c.commit, baseSha: c.base, pusher, at: deps.now(), jump: c.jump });
    // The hidden ref is made after the answer (one git process less to wait for): until then the commit is an
    // unreferenced object git keeps for weeks (gc.pruneExpire), and the queue reads it from SQLite, never from the ref.
    setImmediate(() => void gitRun(repo.path, ['update-ref', `${HIDDEN_REF_PREFIX}${id}`, c.commit, ZERO_SHA])
      .catch((err: Error) => deps.log?.warn({ repo: repo.name, change: id, err: err.message }, 'could not keep a queued commit under its hidden ref')));
    const position = deps.store.landQueue.active(repo.name, c.branch).findIndex((a) => a.id === id) + 1;
    answers.push({ id, ref: c.ref, branch: c.branch, position, url: queueLink(deps.baseUrl(), repo.name, c.branch) });
    deps.queued(repo.name, c.branch);
  }
  return answers;
}

/**
 * The gate's verdict with direct pushes to a `queue-only` branch refused, pointing at refs/for/<branch>
 * (deletions are left to the other rules). A push the gate let through a closed tree as a revert, a
 * fix or a bypass (a pass) still lands directly: the queue waits while the tree is closed, so that is
 * how the tree gets green again. The queue's own landings never ask the gate (the server moves the
 * branch itself, queue/landing.ts).
 */
export function refuseQueueOnly<V extends { accept: boolean; lines: string[]; passes: readonly { ref: string }[] }>(verdict: V,
  repo: Pick<RepositoryConfig, 'land'>, updates: readonly { ref: string; new: string }[]): V {
  if (!verdict.accept) return verdict;
  const refused = updates.filter((u) => u.ref.startsWith('refs/heads/') && u.new !== ZERO_SHA && repo.land?.[u.ref.slice('refs/heads/'.length)] === 'queue-only'
    && !verdict.passes.some((p) => p.ref === u.ref));
  if (refused.length === 0) return verdict;
  const lines = refused.map((u) => {
    const branch = u.ref.slice('refs/heads/'.length);
    return `greengate: ${branch}: push refused: ${branch} takes changes only through its land queue (land: queue-only) — push to it with: git push origin HEAD:refs/for/${branch}`;
  });
  lines.push(`greengate: push refused (a push lands whole or not at all): ${refused.map((u) => u.ref).join(', ')}`);
  return { ...verdict, accept: false, lines, passes: [] };
}
