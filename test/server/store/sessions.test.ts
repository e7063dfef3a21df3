import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('admin page sessions (store/sessions)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  const file = () => join(home.dir, 'greengate.db');
  beforeEach(() => { home = tempHome('gg-sessions-'); store = openStore(file()); });
  afterEach(() => { store.close(); home.cleanup(); });

  it('keeps a session by its hash across a restart, and removes one, the expired ones or all', () => {
    store.sessions.add({ idHash: 'h1', tokenTag: 't1', createdAt: 1, expiresAt: 100 });
    store.sessions.add({ idHash: 'h2', tokenTag: 't1', createdAt: 2, expiresAt: 200 });
    store.sessions.add({ idHash: 'h3', tokenTag: 't2', createdAt: 3, expiresAt: 300 });
    store.close();
    store = openStore(file());
    expect(store.sessions.get('h2')).to.deep.equal({ idHash: 'h2', tokenTag: 't1', createdAt: 2, expiresAt: 200 });
    expect(store.sessions.get('nope')).to.equal(undefined);
    expect(store.sessions.removeExpired(200), 'expired: before now, not at it').to.equal(1);
    expect(store.sessions.get('h1')).to.equal(undefined);
    store.sessions.remove('h2');
    expect(store.sessions.count()).to.equal(1);
    expect(store.sessions.removeAll()).to.equal(1);
    expect(store.sessions.count()).to.equal(0);
  });

  it('refuses a second session with the same hash', () => {
    store.sessions.add({ idHash: 'h1', tokenTag: 't1', createdAt: 1, expiresAt: 100 });
    expect(() => store.sessions.add({ idHash: 'h1', tokenTag: 't2', createdAt: 2, expiresAt: 200 })).to.throw(/UNIQUE|PRIMARY/);
    expect(store.sessions.get('h1')!.tokenTag).to.equal('t1');
  });
});
