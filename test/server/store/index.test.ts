import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

/** The after-commit rule (store/index.ts): work queued in a transaction runs once the outermost one commits, never after a rollback. */
describe('store: tx and afterCommit, the one after-commit rule', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let failures: string[];
  let repoId: number;

  beforeEach(() => {
    home = tempHome('gg-store-tx-');
    failures = [];
    store = openStore(join(home.dir, 'greengate.db'), { log: { error: (obj, msg) => failures.push(`${msg}: ${(obj as { err: Error }).err.message}`) } });
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => {
    store.close();
    home.cleanup();
  });

  const change = (sha: string) => store.repos.recordChange({ repoId, ref: 'refs/heads/main', branch: 'main', kind: 'branch', oldSha: null,
    newSha: sha, source: 'api', pusher: null, at: 1 });
  const changes = () => store.db.prepare('SELECT count(*) AS n FROM changes').get() as { n: number };

  it('runs queued work after the outermost commit, in order, where the committed rows are visible', () => {
    const seen: string[] = [];
    store.tx(() => {
      change('a'.repeat(40));
      store.afterCommit(() => seen.push(`first, inTx=${store.inTx()}, rows=${changes().n}`));
      store.tx(() => {
        change('b'.repeat(40));
        store.afterCommit(() => seen.push(`nested, inTx=${store.inTx()}, rows=${changes().n}`));
      });
      expect(seen, 'the nested commit is not the outermost: nothing ran yet').to.deep.equal([]);
    });
    expect(seen).to.deep.equal(['first, inTx=false, rows=2', 'nested, inTx=false, rows=2']);
  });

  it('drops the work of a rolled back transaction, and of a rolled back savepoint only', () => {
    const seen: string[] = [];
    expect(() => store.tx(() => {
      change('a'.repeat(40));
      store.afterCommit(() => seen.push('rolled back'));
      throw new Error('the outbox is full');
    })).to.throw('the outbox is full');
    expect(seen).to.deep.equal([]);
    expect(changes().n).to.equal(0);

    store.tx(() => {
      store.afterCommit(() => seen.push('kept'));
      try {
        store.tx(() => {
          change('b'.repeat(40));
          store.afterCommit(() => seen.push('inner, rolled back'));
          throw new Error('inner fails');
        });
      } catch { /* the caller goes on without the inner part */ }
      store.afterCommit(() => seen.push('after the inner part'));
    });
    expect(seen).to.deep.equal(['kept', 'after the inner part']);
    expect(changes().n, 'the savepoint rolled back its row').to.equal(0);
  });

  it('outside a transaction runs the work at once (the write it follows is committed already)', () => {
    const seen: string[] = [];
    change('a'.repeat(40));
    store.afterCommit(() => seen.push('now'));
    expect(seen).to.deep.equal(['now']);
  });

  it('logs a failing piece of work and still runs the others; the commit stands', () => {
    const seen: string[] = [];
    const out = store.tx(() => {
      change('a'.repeat(40));
      store.afterCommit(() => { throw new Error('an observer failed'); });
      store.afterCommit(() => seen.push('second'));
      return 42;
    });
    expect(out).to.equal(42);
    expect(seen).to.deep.equal(['second']);
    expect(failures).to.deep.equal(['work after a commit failed: an observer failed']);
    expect(changes().n).to.equal(1);
  });

  it('work after a commit may open a transaction of its own; its own work runs when that one commits', () => {
    const seen: string[] = [];
    store.tx(() => {
      store.afterCommit(() => store.tx(() => {
        change('c'.repeat(40));
        store.afterCommit(() => seen.push(`inner after its own commit, rows=${changes().n}`));
      }));
      store.afterCommit(() => seen.push('outer second'));
    });
    expect(seen).to.deep.equal(['inner after its own commit, rows=1', 'outer second']);
  });
});
