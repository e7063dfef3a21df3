import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { PageStore } from '../../../server/store/pages.js';
import { tempHome } from '../../helpers.js';

describe('store/pages: test history keyed by file (a real SQLite file)', () => {
  const home = tempHome('gg-store-pages-');
  let store: Store;
  let pages: PageStore;

  before(() => {
    store = openStore(join(home.dir, 'greengate.db'));
    pages = new PageStore(store.db);
    const repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    const buildId = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
      sha: 'a'.repeat(40), baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
    const unit = store.units.create({ buildId, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0, avoidRunnerId: null, lostCount: 0, at: 1 });
    const test = (file: string | null, durationMs: number) =>
      ({ name: 'same name', classname: '', file, durationMs, status: 'passed' as const, message: null });
    store.tests.insert({ id: buildId, repoId, builder: 'unit' }, unit, 1, [test('test/a.test.js', 10), test('test/b.test.js', 30), test(null, 50)], 2);
  });

  after(() => {
    store.close();
    home.cleanup();
  });

  it('ranks same-named tests of different files apart', () => {
    const { slowest } = pages.testRankings(10);
    expect(slowest.map((t) => [t.file, t.runs, t.avgMs])).to.deep.equal([['', 1, 50], ['test/b.test.js', 1, 30], ['test/a.test.js', 1, 10]]);
  });

  it("gives one file's runs, the runs without a file for '', and every file's without one", () => {
    const runs = (file: string | null) => pages.testRuns(store.repos.byName('shop')!.id, 'unit', '', 'same name', 10, file).map((r) => r.durationMs);
    expect(runs('test/a.test.js')).to.deep.equal([10]);
    expect(runs('test/b.test.js')).to.deep.equal([30]);
    expect(runs('')).to.deep.equal([50]);
    expect(runs(null)).to.deep.equal([50, 30, 10]);
  });

  it('narrows the API history (store.tests.history) to one file the same way', () => {
    const history = (file: string | null) => store.tests.history({ repoId: store.repos.byName('shop')!.id, builder: 'unit',
      name: 'same name', classname: null, limit: 10, file }).map((r) => r.durationMs);
    expect(history('test/b.test.js')).to.deep.equal([30]);
    expect(history(null)).to.deep.equal([50, 30, 10]);
  });
});

describe('store/pages: waterfall filters by branch and author, badge facts (a real SQLite file)', () => {
  const home = tempHome('gg-store-filters-');
  let store: Store;
  let pages: PageStore;
  let repoId: number;
  const sha = (i: number) => i.toString(16).padStart(40, '0');
  const ids = (builds: { id: number }[]) => builds.map((b) => b.id);

  before(() => {
    store = openStore(join(home.dir, 'greengate.db'));
    pages = new PageStore(store.db);
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    // Builds 1..12: branches main/feature alternate; commits by Ada (even) and Bo (odd); 11 and 12 are try builds.
    for (let i = 1; i <= 12; i++) {
      const [author, email] = i % 2 ? ['Bo Builder', 'bo@example.com'] : ['Ada Tester', 'ada@example.com'];
      store.repos.saveCommits(repoId, [{ sha: sha(i), author, email, subject: `commit ${i}`, committedAt: i }]);
      store.builds.create({ repoId, builder: i % 3 ? 'unit' : 'lint', ref: `refs/heads/x`, branch: i % 4 < 2 ? 'main' : 'feature/x',
        kind: i > 10 ? 'try' : 'branch', sha: sha(i), baseSha: null, changeId: null, pushedAt: i, at: i, blamelist: [] });
    }
  });

  after(() => {
    store.close();
    home.cleanup();
  });

  it('keeps one branch, one author (name or e-mail, any case), or both; newest first, paged by id', () => {
    expect(ids(pages.builds('branch', 50, undefined, { branch: 'main' }))).to.deep.equal([9, 8, 5, 4, 1]);
    expect(ids(pages.builds('branch', 2, 8, { branch: 'main' }))).to.deep.equal([5, 4]);
    expect(ids(pages.builds('branch', 50, undefined, { author: 'bo builder' }))).to.deep.equal([9, 7, 5, 3, 1]);
    expect(ids(pages.builds('branch', 50, undefined, { author: 'ADA@example.com' }))).to.deep.equal([10, 8, 6, 4, 2]);
    expect(ids(pages.builds('branch', 2, 9, { author: 'Bo Builder' }))).to.deep.equal([7, 5]);
    expect(ids(pages.builds('branch', 50, undefined, { author: 'Bo Builder', branch: 'feature/x' }))).to.deep.equal([7, 3]);
    expect(ids(pages.builds('try', 50, undefined, { author: 'Bo Builder' }))).to.deep.equal([11]);
    expect(ids(pages.builds('branch', 50, undefined, { author: 'Bo' }))).to.deep.equal([]); // whole names, not parts
    expect(pages.builds('branch', 50, undefined, { branch: 'main' })[0]).to.include({ author: 'Bo Builder', subject: 'commit 9', commits: 0 });
  });

  it('reads every filter along an index, never by scanning the builds table', () => {
    const plans = (['branch', 'author', 'both'] as const).map((which) => {
      const stmt = (pages as unknown as { q: { filtered: Record<string, { source: string }> } }).q.filtered[which];
      return (store.db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`)
        .all({ kind: 'branch', limit: 10, before: 100, branch: 'main', author: 'x' }) as { detail: string }[]).map((r) => r.detail);
    });
    for (const plan of plans) {
      expect(plan.filter((d) => /^SCAN (b|x|a)\b/.test(d)), plan.join(' | ')).to.deep.equal([]);
    }
    expect(plans[0].join(' | ')).to.contain('builds_by_kind_branch');
    expect(plans[1].join(' | ')).to.contain('commits_by_author').and.contain('commits_by_email').and.contain('builds_by_commit');
    // An author's builds come from their commits, never from walking every build of the kind (no ANALYZE here, as in production).
    for (const plan of plans.slice(1)) expect(plan.join(' | ')).to.not.match(/builds_by_kind \(/);
  });

  it("gives each builder's newest finished build of a branch, skipping cancelled ones, and whether one is under way", () => {
    const build = (builder: string, branch: string, i: number) => store.builds.create({ repoId, builder, ref: `refs/heads/${branch}`, branch,
      kind: 'branch', sha: sha(100 + i), baseSha: null, changeId: null, pushedAt: 100 + i, at: 100 + i, blamelist: [] });
    const finish = (id: number, result: 'passed' | 'failed' | 'cancelled') =>
      store.db.prepare(`UPDATE builds SET state = 'done', result = ? WHERE id = ?`).run(result, id);
    const a = build('unit', 'release', 1);
    finish(a, 'failed');
    const b = build('unit', 'release', 2);
    finish(b, 'passed');
    finish(build('unit', 'release', 3), 'cancelled');
    const c = build('lint', 'release', 4);
    finish(c, 'failed');
    expect(pages.branchStatus(repoId, 'release', ['unit', 'lint', 'docs'])).to.deep.equal({
      finished: [{ builder: 'unit', id: b, result: 'passed' }, { builder: 'lint', id: c, result: 'failed' }], unfinished: false });
    build('docs', 'release', 5);
    expect(pages.branchStatus(repoId, 'release', ['docs']).unfinished).to.equal(true);
    expect(pages.branchStatus(repoId, 'nowhere', ['unit'])).to.deep.equal({ finished: [], unfinished: false });
  });
});
