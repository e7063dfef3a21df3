import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('runners ever seen (store/runners)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  beforeEach(() => { home = tempHome('gg-runners-'); store = openStore(join(home.dir, 'greengate.db')); });
  afterEach(() => { store.close(); home.cleanup(); });

  it('registers a runner by name: a second registration keeps its id and first sighting and updates the rest', () => {
    const id = store.runners.register({ name: 'r1', slots: 2, version: '1.0', address: '10.0.0.5', at: 100, labels: { os: 'linux' }, cpus: 8 });
    const other = store.runners.register({ name: 'r2', slots: 1, version: '1.0', address: null, at: 110 });
    expect(other).to.not.equal(id);
    store.runners.markDisconnected(id, 150);
    expect(store.runners.register({ name: 'r1', slots: 4, version: '1.1', address: '10.0.0.6', at: 200, labels: { os: 'linux', gpu: 'yes' } })).to.equal(id);
    expect(store.runners.all().find((r) => r.name === 'r1')).to.deep.equal({ id, name: 'r1', slots: 4, version: '1.1', connected: 1,
      address: '10.0.0.6', firstSeen: 100, lastSeen: 200, labels: { os: 'linux', gpu: 'yes' }, cpus: null });
    expect(store.runners.all().find((r) => r.name === 'r2')).to.deep.include({ labels: {}, cpus: null, address: null });
  });

  it('lists connected runners first, then by name; disconnects one (with when) or all (at start-up)', () => {
    const b = store.runners.register({ name: 'b', slots: 1, version: 'v', address: null, at: 1 });
    store.runners.register({ name: 'a', slots: 1, version: 'v', address: null, at: 1 });
    store.runners.register({ name: 'c', slots: 1, version: 'v', address: null, at: 1 });
    store.runners.markDisconnected(b, 5);
    store.runners.touch(b, 9);
    expect(store.runners.all().map((r) => [r.name, r.connected, r.lastSeen])).to.deep.equal([['a', 1, 1], ['c', 1, 1], ['b', 0, 9]]);
    store.runners.markAllDisconnected();
    expect(store.runners.all().map((r) => [r.name, r.connected])).to.deep.equal([['a', 0], ['b', 0], ['c', 0]]);
  });
});
