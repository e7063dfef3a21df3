import { expect } from 'chai';
import { shopStore } from '../memory.js';

describe('store/buildCauses: why a build nobody pushed was made, and when schedules last ran', () => {
  it('keeps a build\'s cause, admin, original and params; a push\'s build has none', () => {
    const { store, repoId } = shopStore();
    const at = Date.now();
    const make = () => store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: 'a'.repeat(40),
      baseSha: null, changeId: null, pushedAt: at, at, blamelist: [] });
    const pushed = make();
    const rerun = make();
    store.buildCauses.record(rerun, { cause: 'rerun', startedBy: 'ada', rebuildOf: pushed, params: { TARGET: 'production' } });
    expect(store.buildCauses.of(pushed)).to.equal(undefined);
    expect(store.buildCauses.of(rerun)).to.deep.equal({ cause: 'rerun', startedBy: 'ada', rebuildOf: pushed, params: { TARGET: 'production' } });
    expect(() => store.buildCauses.record(make(), { cause: 'push' as never, startedBy: null, rebuildOf: null, params: {} })).to.throw(/CHECK/);
    store.close();
  });

  it('goes with its build when retention removes it; a re-run of a removed build keeps its row', () => {
    const { store, repoId } = shopStore();
    const make = (at: number) => {
      const id = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: 'a'.repeat(40),
        baseSha: null, changeId: null, pushedAt: at, at, blamelist: [] });
      store.builds.finish(id, 'failed', null, at);
      return id;
    };
    const old = make(1000);
    store.buildCauses.record(old, { cause: 'manual', startedBy: 'ada', rebuildOf: null, params: {} });
    const rerun = make(Date.now());
    store.buildCauses.record(rerun, { cause: 'rerun', startedBy: 'ada', rebuildOf: old, params: {} });
    expect(store.retention.pruneBuilds(2000)).to.be.at.least(1);
    expect(store.builds.get(old)).to.equal(undefined);
    expect(store.buildCauses.of(old)).to.equal(undefined);
    expect(store.buildCauses.of(rerun)).to.include({ cause: 'rerun', rebuildOf: null });
    store.close();
  });

  it('moves a schedule\'s last run only from the value read (no double run), and records the first sight once', () => {
    const { store } = shopStore();
    expect(store.buildCauses.lastScheduled('shop', 'nightly')).to.equal(undefined);
    store.buildCauses.firstSeen('shop', 'nightly', 100);
    store.buildCauses.firstSeen('shop', 'nightly', 200);
    expect(store.buildCauses.lastScheduled('shop', 'nightly')).to.equal(100);
    expect(store.buildCauses.claimScheduled('shop', 'nightly', 100, 300)).to.equal(true);
    expect(store.buildCauses.claimScheduled('shop', 'nightly', 100, 400)).to.equal(false);
    expect(store.buildCauses.lastScheduled('shop', 'nightly')).to.equal(300);
    store.close();
  });
});
