/** store/rollouts on a real SQLite file: a rollout's state is one row per flag, updated in place, and survives a reopen; points come oldest first. */
import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('store/rollouts', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  beforeEach(() => {
    home = tempHome('gg-rollouts-');
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => { store.close(); home.cleanup(); });

  it('saves a rollout once per flag (the newest state wins), keeps it across a reopen, and lists the newest points oldest first', () => {
    store.rollouts.save(repoId, { key: 'cart', startedAt: 1, step: 0, percent: 1, stepStartedAt: 1, state: 'ramping', reason: null, updatedAt: 1 });
    store.rollouts.save(repoId, { key: 'cart', startedAt: 1, step: 1, percent: 5, stepStartedAt: 9, state: 'held', reason: 'sample-ratio mismatch', updatedAt: 9 });
    const point = { percent: 1, exposuresNew: 10, exposuresOld: 990, metricNew: 0.01, metricOld: 0.005, pValue: 0.2, srmP: 0.9 };
    for (let i = 0; i < 5; i++) store.rollouts.addPoint(repoId, 'cart', { ...point, at: i, decision: i === 4 ? 'advance' : 'wait' });
    store.close();
    store = openStore(join(home.dir, 'greengate.db'));
    expect(store.rollouts.all()).to.deep.equal([{ repo: 'shop', key: 'cart', startedAt: 1, step: 1, percent: 5, stepStartedAt: 9, state: 'held', reason: 'sample-ratio mismatch', updatedAt: 9 }]);
    expect(store.rollouts.points(repoId, 'cart', 2).map((p) => [p.at, p.decision])).to.deep.equal([[3, 'wait'], [4, 'advance']]);
    expect(store.rollouts.points(repoId, 'other')).to.deep.equal([]);
  });
});
