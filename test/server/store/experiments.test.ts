/** store/experiments on a real SQLite file: one exposure per user per day per phase, conversions attributed to the user's exposure variant, phases apart. */
import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('store/experiments', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  beforeEach(() => {
    home = tempHome('gg-experiments-');
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => { store.close(); home.cleanup(); });

  it('deduplicates per user per day, counts each user once per phase, attributes conversions to the exposure\'s variant, keeps phases apart', () => {
    store.experiments.phase(repoId, 'cart', 'p1', '{"on":50,"off":50}', 10);
    store.experiments.phase(repoId, 'cart', 'p1', null, 99); // seen again: the first stays
    store.experiments.phase(repoId, 'cart', 'p2', '{"on":80,"off":20}', 20);
    const e = (user: string, day: number, variant: string, phase = 'p1') => ({ key: 'cart', phase, user, day, variant });
    expect(store.experiments.add(repoId, [e('u1', 1, 'on'), e('u1', 1, 'on'), e('u1', 2, 'on'), e('u2', 1, 'off'), e('u3', 1, 'on', 'p2')], [])).to.equal(4);
    const c = (user: string, metric: string, phase = 'p1') => ({ key: 'cart', phase, metric, user, day: 1, value: 2 });
    expect(store.experiments.add(repoId, [], [c('u1', 'checkout'), c('u1', 'checkout'), c('u2', 'checkout'), c('u3', 'checkout', 'p2'), c('u9', 'checkout')])).to.equal(4);
    expect(store.experiments.exposed(repoId, 'cart', 'p1')).to.deep.equal([{ variant: 'off', users: 1 }, { variant: 'on', users: 1 }]);
    expect(store.experiments.converted(repoId, 'cart', 'p1')).to.deep.equal([
      { metric: 'checkout', variant: 'off', users: 1, value: 2 }, { metric: 'checkout', variant: 'on', users: 1, value: 2 }]); // u9 was never exposed
    expect(store.experiments.exposed(repoId, 'cart', 'p2')).to.deep.equal([{ variant: 'on', users: 1 }]);
    expect(store.experiments.phases(repoId, 'cart')).to.deep.equal([{ phase: 'p2', weights: '{"on":80,"off":20}', startedAt: 20 }, { phase: 'p1', weights: '{"on":50,"off":50}', startedAt: 10 }]);
  });
});
