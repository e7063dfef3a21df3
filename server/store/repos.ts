/** Repositories, commit metadata, change notices and the last head seen per ref. */
import type { DB } from './db.js';

export interface RepoRow { id: number; name: string; path: string }
export interface CommitInfo { sha: string; author: string; email: string; subject: string; committedAt: number }
export interface ChangeInput {
  repoId: number; ref: string; branch: string; kind: 'branch' | 'try';
  oldSha: string | null; newSha: string; source: 'hook' | 'watch' | 'scan' | 'api'; pusher: string | null; at: number;
}

export class RepoStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      byName: db.prepare('SELECT id, name, path FROM repositories WHERE name = ?'),
      byId: db.prepare('SELECT id, name, path FROM repositories WHERE id = ?'),
      all: db.prepare('SELECT id, name, path FROM repositories ORDER BY name'),
      insert: db.prepare('INSERT INTO repositories (name, path) VALUES (?, ?)'),
      setPath: db.prepare('UPDATE repositories SET path = ? WHERE id = ?'),
      upsertCommit: db.prepare(`INSERT INTO commits (repo_id, sha, author, email, subject, committed_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      commit: db.prepare(`SELECT sha, author, email, subject, committed_at AS committedAt FROM commits WHERE repo_id = ? AND sha = ?`),
      insertChange: db.prepare(`INSERT INTO changes (repo_id, ref, branch, kind, old_sha, new_sha, source, pusher, received_at)
        VALUES (@repoId, @ref, @branch, @kind, @oldSha, @newSha, @source, @pusher, @at)`),
      refHead: db.prepare('SELECT sha FROM ref_heads WHERE repo_id = ? AND ref = ?'),
      refHeads: db.prepare('SELECT ref, sha FROM ref_heads WHERE repo_id = ?'),
      setRefHead: db.prepare(`INSERT INTO ref_heads (repo_id, ref, sha, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (repo_id, ref) DO UPDATE SET sha = excluded.sha, updated_at = excluded.updated_at`),
      deleteRefHead: db.prepare('DELETE FROM ref_heads WHERE repo_id = ? AND ref = ?'),
    };
  }

  /** Makes sure each configured repository has a row; returns name → row. */
  sync(repos: readonly { name: string; path: string }[]): Map<string, RepoRow> {
    return this.db.transaction(() => {
      const out = new Map<string, RepoRow>();
      for (const r of repos) {
        let row = this.q.byName.get(r.name) as RepoRow | undefined;
        if (!row) {
          const id = Number(this.q.insert.run(r.name, r.path).lastInsertRowid);
          row = { id, name: r.name, path: r.path };
        } else if (row.path !== r.path) {
          this.q.setPath.run(r.path, row.id);
          row = { ...row, path: r.path };
        }
        out.set(r.name, row);
      }
      return out;
    })();
  }

  byName(name: string): RepoRow | undefined { return this.q.byName.get(name) as RepoRow | undefined; }
  byId(id: number): RepoRow | undefined { return this.q.byId.get(id) as RepoRow | undefined; }
  all(): RepoRow[] { return this.q.all.all() as RepoRow[]; }

  saveCommits(repoId: number, commits: readonly CommitInfo[]): void {
    for (const c of commits) this.q.upsertCommit.run(repoId, c.sha, c.author, c.email, c.subject, c.committedAt);
  }
  commit(repoId: number, sha: string): CommitInfo | undefined {
    return this.q.commit.get(repoId, sha) as CommitInfo | undefined;
  }

  recordChange(change: ChangeInput): number {
    return Number(this.q.insertChange.run(change).lastInsertRowid);
  }
  refHead(repoId: number, ref: string): string | null {
    return (this.q.refHead.get(repoId, ref) as { sha: string } | undefined)?.sha ?? null;
  }
  refHeads(repoId: number): Map<string, string> {
    return new Map((this.q.refHeads.all(repoId) as { ref: string; sha: string }[]).map((r) => [r.ref, r.sha]));
  }
  setRefHead(repoId: number, ref: string, sha: string | null, at: number): void {
    if (sha) this.q.setRefHead.run(repoId, ref, sha, at);
    else this.q.deleteRefHead.run(repoId, ref);
  }
}
