/**
 * The land queue's refs in the bare repository: refs/greengate/queue/<id> (queue/entry.ts: keeps a
 * queued change's commit reachable) and refs/try/queue/<id>-<attempt> (queue/candidate.ts: keeps a
 * candidate reachable while its builds run). Both exist only while they are needed: a change that
 * left the queue (landed: its commits are on the branch; removed, ejected, conflict) loses both, a
 * candidate made again (a new attempt) loses its old ref. Nothing reads them once the change left:
 * the queue's pages and API read SQLite (store/landQueue.ts), builds keep their ref and commit there.
 *
 * Deletions happen at the end of a branch's pass (queue/speculation.ts, serialized per branch),
 * never between a candidate ref's creation and its row, in one `git update-ref --stdin` (a ref
 * already gone is fine). At a branch's first pass after start-up, refs left by an earlier server
 * for changes of that branch no longer in the queue are deleted too; refs of changes this
 * database does not know are left alone. Only refs under the two prefixes are ever deleted.
 */
import type { Logger } from 'pino';
import type { QueueChangeRow } from '../store/landQueue.js';
import { CANDIDATE_REF_PREFIX, gitRun } from './candidate.js';
import { HIDDEN_REF_PREFIX } from './entry.js';

const QUEUE_REF = /^refs\/(?:greengate\/queue\/(\d+)|try\/queue\/(\d+)-[^/]+)$/;

/** The refs a change holds in the repository: its hidden ref, and its candidate's ref when it has one. */
export function refsOf(change: Pick<QueueChangeRow, 'id' | 'candidateRef'>): string[] {
  return [`${HIDDEN_REF_PREFIX}${change.id}`, ...(change.candidateRef ? [change.candidateRef] : [])];
}

/** Deletes the refs (only those under the queue's prefixes) in one git process; a ref already gone is fine. */
export async function dropRefs(repoPath: string, refs: readonly string[]): Promise<void> {
  const mine = [...new Set(refs)].filter((r) => QUEUE_REF.test(r)); // the two prefixes' refs only
  if (mine.length === 0) return;
  await gitRun(repoPath, ['update-ref', '--stdin'], [0], mine.map((r) => `delete ${r}\n`).join(''));
}

/**
 * The queue refs of the repository that no change needs any more: those whose change `changeOf`
 * finds and `mine` accepts (one branch's), and that is no longer active or (a candidate's ref) has
 * another current candidate.
 */
export async function staleRefs(repoPath: string, changeOf: (id: number) => QueueChangeRow | undefined,
  mine: (c: QueueChangeRow) => boolean): Promise<string[]> {
  const out = await gitRun(repoPath, ['for-each-ref', '--format=%(refname)', HIDDEN_REF_PREFIX, CANDIDATE_REF_PREFIX]);
  return out.out.split('\n').filter((ref) => {
    const m = QUEUE_REF.exec(ref);
    const c = m ? changeOf(Number(m[1] ?? m[2])) : undefined;
    if (!c || !mine(c)) return false;
    const active = c.state === 'queued' || c.state === 'testing';
    return !active || (ref.startsWith(CANDIDATE_REF_PREFIX) && ref !== c.candidateRef);
  });
}

/** The refs to delete per branch, gathered during a pass and deleted after it (Speculation's, serialized per branch). */
export class QueueRefs {
  private readonly leaving = new Map<string, string[]>(); // branch key → refs to delete after its pass
  private readonly swept = new Set<string>(); // branches whose earlier servers' leftover refs were looked for

  constructor(private readonly changeOf: (id: number) => QueueChangeRow | undefined, private readonly log: Pick<Logger, 'warn'>) {}

  /** The change left the queue: its refs are deleted after the pass. */
  forget(c: QueueChangeRow): void {
    this.leave(c, refsOf(c));
  }

  /** These refs of the change are deleted after the pass (a superseded candidate's). */
  leave(c: Pick<QueueChangeRow, 'repo' | 'branch'>, refs: readonly string[]): void {
    const key = `${c.repo}\0${c.branch}`;
    this.leaving.set(key, [...this.leaving.get(key) ?? [], ...refs]);
  }

  /** After a pass of the branch: deletes what was left (and, the first time, the leftovers of earlier servers). Never throws. */
  async tidy(repoPath: string, repo: string, branch: string): Promise<void> {
    const key = `${repo}\0${branch}`;
    const refs = this.leaving.get(key) ?? [];
    this.leaving.delete(key);
    try {
      if (!this.swept.has(key)) {
        this.swept.add(key);
        refs.push(...await staleRefs(repoPath, this.changeOf, (c) => c.repo === repo && c.branch === branch));
      }
      await dropRefs(repoPath, refs);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, repo, branch, refs: refs.length },
        'could not delete the land queue refs of changes that left it; the next start deletes them');
    }
  }
}
