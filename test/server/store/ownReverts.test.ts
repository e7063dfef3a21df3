import { expect } from 'chai';
import type { Store } from '../../../server/store/index.js';
import { shopStore } from '../memory.js';

describe("greengate's own reverts (store/ownReverts)", () => {
  let store: Store;
  let repoId: number;
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);

  beforeEach(() => { ({ store, repoId } = shopStore()); });
  afterEach(() => store.close());

  it('records a revert by sha and finds it by its source, newest first; a second record of the same sha changes nothing', () => {
    store.ownReverts.record({ sha: A, repoId, branch: 'main', source: 'deploy', sourceId: 5, createdAt: 1 });
    store.ownReverts.record({ sha: B, repoId, branch: 'main', source: 'deploy', sourceId: 5, createdAt: 2 });
    store.ownReverts.record({ sha: A, repoId, branch: 'other', source: 'culprit', sourceId: 9, createdAt: 3 });
    expect(store.ownReverts.of('deploy', 5)).to.deep.equal([B, A]);
    expect(store.ownReverts.of('culprit', 9)).to.deep.equal([]);
    expect(store.ownReverts.of('deploy', 6)).to.deep.equal([]);
    expect(store.ownReverts.get(A)).to.deep.equal({ sha: A, repoId, branch: 'main', source: 'deploy', sourceId: 5, createdAt: 1 });
    expect(store.ownReverts.get('c'.repeat(40))).to.equal(undefined);
  });
});
