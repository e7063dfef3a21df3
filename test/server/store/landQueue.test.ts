import { expect } from 'chai';
import { join } from 'node:path';
import { openDatabase } from '../../../server/store/db.js';
import { Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('store/landQueue (migration 031)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  const sha = (c: string) => c.repeat(40);
  beforeEach(() => {
    home = tempHome('gg-031-');
    store = new Store(openDatabase(join(home.dir, 'greengate.db')));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => { store.close(); home.cleanup(); });
  const add = (c: string) => store.landQueue.add({ repoId, branch: 'main', commitSha: sha(c), baseSha: sha('0'), pusher: 'ada', at: 1 });

  it('keeps the queue in order and lands a change once, only while it is waiting', () => {
    const a = add('a');
    const b = add('b');
    expect(store.landQueue.active('shop', 'main').map((c) => c.id)).to.deep.equal([a, b]);
    expect(store.landQueue.testing(a, { sha: sha('c'), ref: 'refs/try/queue/1-x', base: sha('0'), buildId: null }, 2)).to.equal(true);
    expect(store.landQueue.land(a, sha('c'), 3)).to.equal(true);
    expect(store.landQueue.land(a, sha('d'), 4), 'never twice').to.equal(false);
    expect(store.landQueue.byId(a)).to.include({ state: 'landed', landedSha: sha('c') });
    expect(store.landQueue.end(a, 'ejected', 'late', 5), 'a landed change is not ejected after').to.equal(false);
    expect(store.landQueue.end(b, 'conflict', 'cart.txt', 6)).to.equal(true);
    expect(store.landQueue.testing(b, { sha: sha('e'), ref: 'r', base: sha('0'), buildId: null }, 7), 'an ejected one is not tested again').to.equal(false);
    expect(store.landQueue.active('shop', 'main')).to.deep.equal([]);
    expect(store.landQueue.branchesWithWork()).to.deep.equal([]);
    expect(store.landQueue.recent('shop', 'main').map((c) => c.state)).to.deep.equal(['conflict', 'landed']);
  });

  it('puts a jumping change (migration 034) ahead of the waiting ones, in the order they came, and refuses an unknown jump', () => {
    const a = add('a');
    const fix = store.landQueue.add({ repoId, branch: 'main', commitSha: sha('f'), baseSha: sha('0'), pusher: 'bo', at: 2,
      jump: { kind: 'fix', reason: "Fixes-build: 7 (the pusher's claim, not checked by greengate)", build: 7 } });
    const revert = store.landQueue.add({ repoId, branch: 'main', commitSha: sha('e'), baseSha: sha('0'), pusher: 'cy', at: 3,
      jump: { kind: 'revert', reason: 'reverts blamelist commits of build #7', build: 7 } });
    expect(store.landQueue.active('shop', 'main').map((c) => c.id)).to.deep.equal([fix, revert, a]);
    expect(store.landQueue.byId(fix)).to.include({ jump: 'fix', jumpBuild: 7 });
    expect(store.landQueue.byId(a)).to.include({ jump: null, jumpReason: null, jumpBuild: null });
    expect(() => store.db.prepare("UPDATE queue_changes SET jump = 'bypass' WHERE id = ?").run(a)).to.throw(/CHECK constraint failed/);
  });

  it('counts the candidate builds that still wait for a runner (the runners are the limit: batches)', () => {
    const build = (ref: string, at: number) => store.builds.create({ repoId, builder: 'unit', ref, branch: ref.slice('refs/try/'.length), kind: 'try', sha: sha('c'),
      baseSha: null, changeId: null, pushedAt: at, at, blamelist: [] });
    const old = build('refs/try/queue/1-a', 1_000);
    build('refs/try/queue/2-a', 9_000); // made after the cut: not waiting long yet
    build('refs/try/other', 1_000); // not a candidate
    expect(store.landQueue.candidatesWaiting('shop', 5_000)).to.equal(1);
    store.builds.markStarted(old, 6_000);
    expect(store.landQueue.candidatesWaiting('shop', 5_000)).to.equal(0);
  });

  it('refuses a state the table does not know', () => {
    const a = add('a');
    expect(() => store.db.prepare("UPDATE queue_changes SET state = 'merged' WHERE id = ?").run(a)).to.throw(/CHECK constraint failed/);
  });
});
