import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('repositories, commits, changes and ref heads (store/repos)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  const file = () => join(home.dir, 'greengate.db');
  beforeEach(() => { home = tempHome('gg-repos-'); store = openStore(file()); });
  afterEach(() => { store.close(); home.cleanup(); });

  it('syncs the configured repositories: a row each, ids kept across restarts, a moved path updated', () => {
    const first = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }, { name: 'blog', path: '/srv/git/blog.git' }]);
    store.close();
    store = openStore(file());
    const again = store.repos.sync([{ name: 'shop', path: '/data/git/shop.git' }]);
    expect(again.get('shop')).to.deep.equal({ id: first.get('shop')!.id, name: 'shop', path: '/data/git/shop.git' });
    expect(store.repos.byId(first.get('shop')!.id)!.path).to.equal('/data/git/shop.git');
    expect(store.repos.all().map((r) => r.name), 'a repository removed from the config keeps its row (its history)').to.deep.equal(['blog', 'shop']);
    expect(store.repos.byName('nope')).to.equal(undefined);
  });

  it('saves a commit once per repository and reads it back', () => {
    const ids = store.repos.sync([{ name: 'shop', path: '/s' }, { name: 'blog', path: '/b' }]);
    const shop = ids.get('shop')!.id;
    const c = { sha: 'a'.repeat(40), author: 'Ada', email: 'ada@example.com', subject: 'first', committedAt: 5 };
    store.repos.saveCommits(shop, [c]);
    store.repos.saveCommits(shop, [{ ...c, subject: 'rewritten' }]);
    expect(store.repos.commit(shop, c.sha)).to.deep.equal(c);
    expect(store.repos.commit(ids.get('blog')!.id, c.sha)).to.equal(undefined);
  });

  it('keeps the last head per ref (null deletes it) and numbers changes', () => {
    const shop = store.repos.sync([{ name: 'shop', path: '/s' }]).get('shop')!.id;
    store.repos.setRefHead(shop, 'refs/heads/main', 'a'.repeat(40), 1);
    store.repos.setRefHead(shop, 'refs/heads/main', 'b'.repeat(40), 2);
    store.repos.setRefHead(shop, 'refs/tags/v1', 'c'.repeat(40), 3);
    expect(store.repos.refHead(shop, 'refs/heads/main')).to.equal('b'.repeat(40));
    expect([...store.repos.refHeads(shop)]).to.have.deep.members([['refs/heads/main', 'b'.repeat(40)], ['refs/tags/v1', 'c'.repeat(40)]]);
    store.repos.setRefHead(shop, 'refs/tags/v1', null, 4);
    expect(store.repos.refHead(shop, 'refs/tags/v1')).to.equal(null);
    const change = { repoId: shop, ref: 'refs/heads/main', branch: 'main', kind: 'branch' as const, oldSha: null, newSha: 'b'.repeat(40),
      source: 'hook' as const, pusher: 'ada', at: 2 };
    const one = store.repos.recordChange(change);
    expect(store.repos.recordChange({ ...change, source: 'watch', pusher: null })).to.equal(one + 1);
  });
});
