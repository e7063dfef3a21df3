/** store/alerts on a real SQLite file: one row per (fingerprint, startsAt); resolve only a firing one; prune by age, then by count. */
import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('store/alerts', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  const alert = (fingerprint: string, startsAt: number, endsAt: number | null = null) =>
    ({ fingerprint, startsAt, endsAt, name: 'HighErrors', labels: '{"service":"shop"}', summary: null });
  beforeEach(() => { home = tempHome('gg-alert-store-'); store = openStore(join(home.dir, 'greengate.db')); });
  afterEach(() => { store.close(); home.cleanup(); });

  it('stores a (fingerprint, startsAt) once; resolves a firing alert once; lists those started since a moment', () => {
    expect(store.alerts.insert(alert('f', 100), 100)).to.equal(true);
    expect(store.alerts.insert(alert('f', 100), 200)).to.equal(false);
    expect(store.alerts.insert(alert('f', 300), 300)).to.equal(true); // fired again later: another alert
    expect(store.alerts.resolve('f', 100, 150)).to.equal(true);
    expect(store.alerts.resolve('f', 100, 160)).to.equal(false);
    expect(store.alerts.resolve('g', 100, 160)).to.equal(false);
    expect(store.alerts.startedSince(100).map((a) => [a.startsAt, a.endsAt])).to.deep.equal([[100, 150], [300, null]]);
    expect(store.alerts.startedSince(101).map((a) => a.startsAt)).to.deep.equal([300]);
  });

  it('prunes what ended (or, firing, was received) before a moment, then the oldest received over the cap', () => {
    store.alerts.insert(alert('a', 1, 10), 5);
    store.alerts.insert(alert('b', 2), 20);
    store.alerts.insert(alert('c', 3), 30);
    store.alerts.insert(alert('d', 4), 40);
    store.alerts.prune(15, 2);
    expect(store.alerts.startedSince(0).map((a) => a.fingerprint)).to.deep.equal(['c', 'd']);
  });
});
