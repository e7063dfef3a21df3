import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { decideTree } from '../../../server/gate/treeRule.js';
import { tempHome } from '../../helpers.js';

describe('bisect builds and culprit searches in SQLite (store/builds, store/culprits)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);

  beforeEach(() => {
    home = tempHome('gg-culprits-');
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => {
    store.close();
    home.cleanup();
  });

  it('reports a bisect build as kind bisect, lists it apart, and never lets it decide the tree', () => {
    const green = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: A, baseSha: null,
      changeId: null, pushedAt: 1, at: 1, blamelist: [A] });
    store.builds.finish(green, 'passed', null, 2);
    const bisect = store.builds.create({ repoId, builder: 'unit', ref: 'refs/bisect/1', branch: 'main', kind: 'try', purpose: 'bisect', blamelist: [], sha: B, baseSha: null,
      changeId: null, pushedAt: 3, at: 3 });
    store.builds.finish(bisect, 'failed', null, 4);
    expect(store.builds.get(bisect)!.kind).to.equal('bisect');
    expect(store.builds.list({ kind: 'bisect', limit: 10 }).map((b) => b.id)).to.deep.equal([bisect]);
    expect(store.builds.list({ kind: 'try', limit: 10 })).to.deep.equal([]);
    expect(store.builds.list({ kind: 'branch', limit: 10 }).map((b) => b.id)).to.deep.equal([green]);
    const deciding = store.builds.deciding(repoId, 'unit', 'main');
    expect(deciding!.id).to.equal(green);
    expect(decideTree(undefined, [deciding])).to.deep.equal({ kind: 'none' });
    expect(store.builds.latestFor(repoId, 'unit', 'refs/heads/main')!.id, 'the next blamelist starts at the branch build').to.equal(green);
    expect(store.builds.stillRed(repoId, 'main')).to.deep.equal([]);
  });

  it('refuses a purpose it does not know (normal, bisect, deploy, rollback: migrations/022)', () => {
    expect(() => store.db.prepare(`INSERT INTO builds (repo_id, builder, ref, branch, kind, purpose, sha, state, pushed_at, created_at)
      VALUES (?, 'unit', 'refs/x', 'main', 'try', 'canary', ?, 'queued', 1, 1)`).run(repoId, A)).to.throw(/CHECK/);
  });

  it('keeps a search, its probes (each result once) and its observations', () => {
    const red = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: B, baseSha: A,
      changeId: null, pushedAt: 1, at: 1, blamelist: [B, A] });
    const id = store.culprits.create({ repoId, branch: 'main', builder: 'unit', buildId: red, baseSha: A, commits: [A, B], files: ['t/x.sh'],
      flakeRate: 0.01, confirmRuns: 2, maxProbes: 12, observations: [{ pass: 1, fail: 0 }, { pass: 0, fail: 0 }, { pass: 0, fail: 1 }], createdAt: 5 });
    const probe = store.builds.create({ repoId, builder: 'unit', ref: `refs/bisect/${id}`, branch: 'main', kind: 'try', purpose: 'bisect', blamelist: [], sha: A, baseSha: null, changeId: null, pushedAt: 6, at: 6 });
    store.culprits.addProbe(probe, id, 1);
    expect(store.culprits.recordProbe(probe, 'passed')).to.equal(true);
    expect(store.culprits.recordProbe(probe, 'failed'), 'once').to.equal(false);
    store.culprits.saveObservations(id, [{ pass: 1, fail: 0 }, { pass: 1, fail: 0 }, { pass: 0, fail: 1 }], 1);
    expect(store.culprits.finish(id, { culpritSha: B, confirmed: true, confidence: 0.99, outcome: 'x', at: 9 })).to.equal(true);
    expect(store.culprits.finish(id, { culpritSha: A, confirmed: false, confidence: 0.5, outcome: 'y', at: 10 }), 'ends once').to.equal(false);
    const s = store.culprits.forBuild(red)!;
    expect(s).to.include({ state: 'done', culpritSha: B, confirmed: true, probes: 1 });
    expect(s.observations[1]).to.deep.equal({ pass: 1, fail: 0 });
    expect(store.culprits.probes(id)).to.deep.equal([{ buildId: probe, searchId: id, position: 1, result: 'passed' }]);
  });

  it('lets retention delete old bisect builds and searches with their builds', () => {
    const red = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: B, baseSha: A,
      changeId: null, pushedAt: 1, at: 1, blamelist: [B, A] });
    store.builds.finish(red, 'failed', null, 2);
    const newer = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: A, baseSha: B,
      changeId: null, pushedAt: 3, at: 3, blamelist: [A] });
    store.builds.finish(newer, 'passed', null, 4);
    const id = store.culprits.create({ repoId, branch: 'main', builder: 'unit', buildId: red, baseSha: A, commits: [A, B], files: [],
      flakeRate: 0.01, confirmRuns: 2, maxProbes: 12, observations: [], createdAt: 5 });
    const probes = [1, 2].map((i) => {
      const p = store.builds.create({ repoId, builder: 'unit', ref: `refs/bisect/${id}`, branch: 'main', kind: 'try', purpose: 'bisect', blamelist: [], sha: A, baseSha: null, changeId: null, pushedAt: 6, at: 6 });
      store.builds.finish(p, 'passed', null, 7);
      store.culprits.addProbe(p, id, i);
      return p;
    });
    store.culprits.finish(id, { culpritSha: B, confirmed: true, confidence: 0.99, outcome: 'x', at: 8 });
    store.culprits.wantRevert({ searchId: id, repoId, branch: 'main', culpritSha: B, buildId: red, at: 9 });
    expect(store.retention.pruneBuilds(Date.now())).to.equal(2); // the red build and the older probe; the newest of each ref stays
    expect(store.builds.get(red)).to.equal(undefined);
    expect(store.builds.get(probes[0])).to.equal(undefined);
    expect(store.culprits.get(id)).to.equal(undefined);
    expect(store.culprits.probe(probes[1])).to.equal(undefined);
  });
});
