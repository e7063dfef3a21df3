import { expect } from 'chai';
import { shopStore, SHA_A } from '../memory.js';

describe('store/steps: the steps of a build', () => {
  it('keeps each step with its needs, matrix and plan, moves pending → running → an end once, and goes with its build', () => {
    const { store, repoId } = shopStore();
    try {
      const id = store.builds.create({ repoId, builder: 'ci', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: SHA_A,
        baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
      store.steps.create({ buildId: id, seq: 1, name: 'build', stepName: 'build', needs: [], matrix: null, plan: [{ files: [], expectedMs: 5 }] });
      store.steps.create({ buildId: id, seq: 2, name: 'test (NODE=20)', stepName: 'test', needs: ['build'], matrix: { NODE: '20' }, plan: [] });
      expect(store.steps.has(id)).to.equal(true);
      expect(store.steps.byBuild(id)[1]).to.deep.equal({ buildId: id, seq: 2, name: 'test (NODE=20)', stepName: 'test', needs: ['build'],
        matrix: { NODE: '20' }, plan: [], result: 'pending', startedAt: null, finishedAt: null });
      expect(store.steps.start(id, 'build', 10)).to.equal(true);
      expect(store.steps.start(id, 'build', 11), 'once').to.equal(false);
      expect(store.steps.finish(id, 'build', 'passed', 20)).to.equal(true);
      expect(store.steps.finish(id, 'build', 'failed', 21), 'an ended step keeps its result').to.equal(false);
      expect(store.steps.byBuild(id)[0]).to.include({ result: 'passed', startedAt: 10, finishedAt: 20 });
      store.db.prepare('DELETE FROM builds WHERE id = ?').run(id);
      expect(store.steps.byBuild(id)).to.deep.equal([]);
    } finally {
      store.close();
    }
  });
});
