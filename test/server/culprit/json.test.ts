import { expect } from 'chai';
import type { Store } from '../../../server/store/index.js';
import { culpritJson, probeJson } from '../../../server/culprit/json.js';
import { shopStore } from '../memory.js';

describe('culprit/json: a red build\'s culprit as every page and payload shows it', () => {
  let store: Store;
  let repoId: number;
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);
  beforeEach(() => {
    ({ store, repoId } = shopStore());
    store.repos.saveCommits(repoId, [{ sha: B, author: 'Bob', email: 'bob@example.com', subject: 'break the cart', committedAt: 1 }]);
  });
  afterEach(() => store.close());

  function search(): { red: number; id: number } {
    const red = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: B, baseSha: A,
      changeId: null, pushedAt: 1, at: 1, blamelist: [B] });
    const id = store.culprits.create({ repoId, branch: 'main', builder: 'unit', buildId: red, baseSha: A, commits: [B], files: [],
      flakeRate: 0.01, confirmRuns: 2, maxProbes: 12, observations: [{ pass: 1, fail: 0 }, { pass: 0, fail: 1 }], createdAt: 2 });
    return { red, id };
  }

  it('is null for a build no search was made for, and for a build that is not a bisect build', () => {
    const { red } = search();
    expect(culpritJson(store, red + 100)).to.equal(null);
    expect(probeJson(store, red)).to.equal(null);
  });

  it('shows a search while it runs, then its culprit with the commit\'s author and subject and the revert', () => {
    const { red, id } = search();
    expect(culpritJson(store, red)).to.deep.equal({ sha: null, confirmed: false, builds: [], state: 'searching', confidence: null,
      outcome: null, author: null, subject: null, search: id, revert: null });
    store.culprits.finish(id, { culpritSha: B, confirmed: true, confidence: 0.999, outcome: 'confirmed', at: 3 });
    store.culprits.wantRevert({ searchId: id, repoId, branch: 'main', culpritSha: B, buildId: red, at: 4 });
    expect(culpritJson(store, red)).to.deep.include({ sha: B, confirmed: true, state: 'done', confidence: 0.999, outcome: 'confirmed',
      author: 'Bob', subject: 'break the cart', revert: { state: 'wanted', sha: null, reason: null } });
    const revertId = store.culprits.revertOf(id)!.id;
    store.culprits.settleRevert(revertId, 'refused', null, 'it is a merge commit', 5);
    expect(culpritJson(store, red)!.revert).to.deep.equal({ state: 'refused', sha: null, reason: 'it is a merge commit' });
  });
});
