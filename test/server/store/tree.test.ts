import { expect } from 'chai';
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS_DIR, migrate } from '../../../server/store/db.js';
import { Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

/**
 * store/tree's closers and store/builds' purposes as migrations/022 leaves a database written
 * before it: who closed each tree read from what the old rows say once, and every special build marked.
 */
describe('store/tree and store/builds after migration 022 (closed_by, purpose)', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-022-'); });
  afterEach(() => home.cleanup());

  it('backfills who closed (build, person, immune) and each build\'s purpose, and keeps builds\' rows and children', () => {
    const before = join(home.dir, 'before');
    mkdirSync(before);
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{3}_/.test(f) && f < '022')) copyFileSync(join(MIGRATIONS_DIR, f), join(before, f));
    const db = new Database(join(home.dir, 'greengate.db'));
    db.pragma('foreign_keys = ON');
    migrate(db, before);
    const repo = Number(db.prepare("INSERT INTO repositories (name, path) VALUES ('shop', '/srv/shop.git')").run().lastInsertRowid);
    const build = (builder: string, ref: string, kind: string, purpose: string | null) => Number(db.prepare(`INSERT INTO builds
      (repo_id, builder, ref, branch, kind, purpose, sha, state, pushed_at, created_at) VALUES (?, ?, ?, 'main', ?, ?, ?, 'done', 1, 1)`)
      .run(repo, builder, ref, kind, purpose, 'a'.repeat(40)).lastInsertRowid);
    const normal = build('unit', 'refs/heads/main', 'branch', null);
    const tried = build('unit', 'refs/try/main', 'try', null);
    const bisect = build('unit', 'refs/bisect/1', 'try', 'bisect');
    const step = build('deploy:canary', 'refs/deploy/main/canary', 'try', null);
    const rollback = build('rollback:canary', 'refs/deploy/main/canary', 'try', null);
    db.prepare("INSERT INTO build_commits (build_id, position, sha) VALUES (?, 0, ?)").run(normal, 'a'.repeat(40));
    const tree = (branch: string, state: string, automatic: number, actor: string | null) => {
      db.prepare(`INSERT INTO tree_state (repo_id, branch, state, automatic, reason, message, actor, build_id, since)
        VALUES (?, ?, ?, ?, 'why', NULL, ?, NULL, 1)`).run(repo, branch, state, automatic, actor);
      db.prepare(`INSERT INTO tree_events (repo_id, branch, kind, state, automatic, actor, reason, message, build_id, commits, at)
        VALUES (?, ?, ?, ?, ?, ?, 'why', NULL, NULL, NULL, 1)`).run(repo, branch, state === 'open' ? 'open' : state === 'closed' ? 'close' : 'maintenance',
        state, automatic, actor);
    };
    tree('main', 'closed', 1, null);
    tree('release', 'closed', 0, 'greengate-immune');
    tree('dev', 'maintenance', 0, 'sheriff');
    tree('docs', 'open', 0, 'sheriff');

    migrate(db, MIGRATIONS_DIR); // 022 and anything after it
    const store = new Store(db);
    const closer = (branch: string) => store.tree.get(repo, branch)!.closedBy;
    expect(['main', 'release', 'dev', 'docs'].map(closer)).to.deep.equal(['build', 'immune', 'person', null]);
    expect(store.tree.events({ repoId: repo, limit: 10 }).reverse().map((e) => e.closedBy)).to.deep.equal(['build', 'immune', 'person', null]);
    expect([normal, tried, bisect, step, rollback].map((id) => store.builds.get(id)!.purpose)).to.deep.equal(['normal', 'normal', 'bisect', 'deploy', 'rollback']);
    expect(store.builds.get(bisect)!.kind, 'a bisect build still reads as kind bisect').to.equal('bisect');
    expect(store.builds.list({ limit: 10 }).map((b) => b.id).sort(), 'deploy steps left out by default').to.deep.equal([normal, tried, bisect]);
    expect(store.builds.blamelist(normal).map((c) => c.sha), 'children kept').to.deep.equal(['a'.repeat(40)]);
    expect(db.pragma('foreign_key_check')).to.deep.equal([]);
    store.close();
  });
});
