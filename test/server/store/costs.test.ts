import { expect } from 'chai';
import type { Store } from '../../../server/store/index.js';
import { shopStore } from '../memory.js';
import { teachUnitCost } from '../../../server/planning/costs.js';

describe('store: unit costs', () => {
  let store: Store;
  let repoId: number;
  beforeEach(() => { ({ store, repoId } = shopStore()); });
  afterEach(() => store.close());

  it('has nothing before a unit taught it, then keeps the learned cost per builder', () => {
    expect(store.costs.get(repoId, 'unit')).to.equal(null);
    expect(teachUnitCost(store.costs, repoId, 'unit', { runMs: 1000, testMs: 200, knownMs: null }, 1)).to.deep.equal({ overheadMs: 800, samples: 1 });
    teachUnitCost(store.costs, repoId, 'unit', { runMs: 600, testMs: 200, knownMs: null }, 2);
    expect(store.costs.get(repoId, 'unit')).to.deep.equal({ overheadMs: 800 + 0.3 * (400 - 800), samples: 2 });
    expect(store.costs.get(repoId, 'lint')).to.equal(null);
  });

  it('writes nothing for a unit that teaches nothing', () => {
    expect(teachUnitCost(store.costs, repoId, 'unit', { runMs: 1000, testMs: null, knownMs: null }, 1)).to.equal(null);
    expect(store.costs.get(repoId, 'unit')).to.equal(null);
  });
});
