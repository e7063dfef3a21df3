import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('pending gate passes (store/gatePasses)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);
  const pass = (pushId: string, newSha: string, createdAt: number, kind: 'revert' | 'fix' | 'bypass' = 'bypass') =>
    ({ repoId, pushId, ref: 'refs/heads/main', branch: 'main', newSha, kind, commits: [newSha], reason: 'why', actor: 'ada', createdAt });

  beforeEach(() => {
    home = tempHome('gg-passes-');
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => {
    store.close();
    home.cleanup();
  });

  it('lands the newest request\'s passes for exactly the commit seen, and drops earlier attempts of it', () => {
    store.gatePasses.add([pass('p1', A, 1000, 'revert')]);
    store.gatePasses.add([pass('p2', A, 2000, 'revert'), pass('p2', A, 2000, 'fix')]);
    store.gatePasses.add([pass('p3', B, 3000)]);
    expect(store.gatePasses.land(repoId, 'refs/heads/main', 'c'.repeat(40), 0, 4000)).to.deep.equal([]);
    const landed = store.gatePasses.land(repoId, 'refs/heads/main', A, 0, 4000);
    expect(landed.map((p) => [p.pushId, p.kind, p.state])).to.deep.equal([['p2', 'revert', 'landed'], ['p2', 'fix', 'landed']]);
    expect(store.gatePasses.land(repoId, 'refs/heads/main', A, 0, 5000), 'lands once').to.deep.equal([]);
    const all = store.gatePasses.list({ repoId, limit: 10 });
    expect(all.map((p) => [p.pushId, p.state])).to.deep.equal([['p3', 'pending'], ['p2', 'landed'], ['p2', 'landed'], ['p1', 'dropped']]);
    expect(store.gatePasses.list({ repoId, state: 'pending', limit: 10 }).map((p) => p.newSha)).to.deep.equal([B]);
  });

  it('drops what is older than the cut-off: a pass whose push never landed never lands later', () => {
    store.gatePasses.add([pass('old', A, 1000)]);
    expect(store.gatePasses.land(repoId, 'refs/heads/main', A, 5000, 6000)).to.deep.equal([]);
    expect(store.gatePasses.list({ repoId, limit: 10 }).map((p) => [p.state, p.settledAt])).to.deep.equal([['dropped', 6000]]);
  });

  it('keeps another ref\'s pending passes apart', () => {
    store.gatePasses.add([{ ...pass('r', A, 1000), ref: 'refs/heads/release', branch: 'release' }]);
    expect(store.gatePasses.land(repoId, 'refs/heads/main', A, 0, 2000)).to.deep.equal([]);
    expect(store.gatePasses.land(repoId, 'refs/heads/release', A, 0, 2000)).to.have.length(1);
  });
});
