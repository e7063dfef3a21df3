import { expect } from 'chai';
import type { AssignMessage } from '../../../server/protocol.js';
import { builder, config, finished, pipeline, type Pipeline } from '../memory.js';

describe('dispatch/queue: who runs what next', () => {
  let p: Pipeline;
  afterEach(() => p.close());

  it('hands units to free slots longest first and sends each its assign', () => {
    p = pipeline();
    const r1 = p.runner('r1', 2);
    p.registry.join(r1, []);
    const id = p.build([['test/short.test.js'], ['test/long.test.js'], ['test/mid.test.js']], { expectedMs: [100, 3000, 900] });
    p.queue.dispatch();
    const sent = r1.sent as AssignMessage[];
    expect(sent.map((m) => m.files[0])).to.deep.equal(['test/long.test.js', 'test/mid.test.js']);
    expect(sent[0]).to.deep.include({ type: 'assign', build: id, sha: 'a'.repeat(40), branch: 'main', ref: 'refs/heads/main', attempt: 1 });
    expect(sent[0].repo).to.deep.equal({ name: 'shop', url: '/git/shop.git', path: '/nonexistent/shop.git' });
    expect(sent[0].builder).to.include({ name: 'unit', run: 'node --test "$@"' });
    expect(p.store.units.byBuild(id).filter((u) => u.state === 'running')).to.have.length(2);
    expect(r1.units.size).to.equal(2);

    p.queue.dispatch();
    expect(r1.sent, 'no free slot: nothing more').to.have.length(2);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(sent[0].unit));
    r1.units.delete(sent[0].unit); // the gateway frees the slot when it acks the result
    p.queue.dispatch();
    expect((r1.sent.at(-1) as AssignMessage).files).to.deep.equal(['test/short.test.js']);
  });

  it('gives a lost unit to the next free slot before the units queued earlier', () => {
    p = pipeline();
    const r1 = p.runner('r1', 1);
    const r2 = p.runner('r2', 1);
    const older = p.build([['test/a.test.js'], ['test/b.test.js']], { expectedMs: [5000, 5000] });
    p.registry.join(r1, []);
    p.queue.dispatch();
    const [lost] = r1.assigned();
    p.build([['test/c.test.js']], { sha: 'b'.repeat(40), expectedMs: [9000] });
    p.registry.leave(r1, 'gone');
    p.registry.join(r2, []);
    p.queue.dispatch();
    const [taken] = r2.assigned();
    expect(p.store.units.get(taken)).to.include({ retryOf: lost, buildId: older, priority: 100 });
  });

  it('places a unit on the runner with the most free slots, and only on runners with its runsOn labels', () => {
    p = pipeline(config({ builders: [builder({ runsOn: { os: 'linux' } })] }));
    const mac = p.runner('mac', 8, { os: 'mac' });
    const small = p.runner('small', 1, { os: 'linux' });
    const big = p.runner('big', 3, { os: 'linux' });
    for (const l of [mac, small, big]) p.registry.join(l, []);
    p.build([['test/a.test.js']]);
    p.queue.dispatch();
    expect([mac.assigned().length, small.assigned().length, big.assigned().length]).to.deep.equal([0, 0, 1]);
  });

  it('leaves a unit no connected runner can take queued', () => {
    p = pipeline(config({ builders: [builder({ runsOn: { os: 'linux' } })] }));
    const mac = p.runner('mac', 2, { os: 'mac' });
    p.registry.join(mac, []);
    const id = p.build([['test/a.test.js']]);
    p.queue.dispatch();
    expect(mac.sent).to.deep.equal([]);
    expect(p.store.units.byBuild(id)[0].state).to.equal('queued');
  });

  it('cancels a queued unit of a build that has ended instead of assigning it', () => {
    p = pipeline();
    const r1 = p.runner('r1', 2);
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    p.store.tx(() => p.store.builds.finish(id, 'exception', 'ended elsewhere', Date.now()));
    p.registry.join(r1, []);
    p.queue.dispatch();
    expect(r1.sent).to.deep.equal([]);
    expect(p.store.units.byBuild(id).map((u) => u.result)).to.deep.equal(['cancelled', 'cancelled']);
  });

  it('ends a unit whose builder left the configuration as exception', () => {
    p = pipeline();
    const r1 = p.runner('r1', 1);
    const id = p.build([['test/a.test.js']], { builder: 'gone' });
    p.registry.join(r1, []);
    p.queue.dispatch();
    expect(r1.sent).to.deep.equal([]);
    expect(p.store.units.byBuild(id)[0]).to.include({ result: 'exception' });
    expect(p.store.builds.get(id)).to.include({ state: 'done', result: 'exception' });
  });

  it('folds a dispatch asked for during a dispatch into it', () => {
    p = pipeline();
    const r1 = p.runner('r1', 3);
    p.registry.join(r1, []);
    let nested = 0;
    p.events.on('unit', () => { nested++; p.queue.dispatch(); });
    p.build([['test/a.test.js'], ['test/b.test.js'], ['test/c.test.js']]);
    p.queue.dispatch();
    expect(nested).to.be.greaterThan(0);
    expect(r1.assigned()).to.have.length(3);
    expect(new Set(r1.assigned()).size, 'no unit twice').to.equal(3);
  });

  it('assigns a pass\'s first unit alone, the rest of one look at the queue in ONE transaction, and sends each assign after its commit', () => {
    p = pipeline();
    const r1 = p.runner('r1', 6);
    p.registry.join(r1, []);
    const id = p.build([1, 2, 3, 4, 5, 6].map((i) => [`test/${i}.test.js`]));
    // Outermost transactions begun on the database (better-sqlite3's, under store.tx), and whether each assign left inside one.
    const db = p.store.db as any;
    const begin = db.transaction.bind(db);
    let transactions = 0;
    db.transaction = (fn: () => unknown) => { const run = begin(fn); return () => { if (!db.inTransaction) transactions++; return run(); }; };
    const sentInTx: boolean[] = [];
    const send = r1.send.bind(r1);
    r1.send = (m) => { sentInTx.push(db.inTransaction); send(m); };
    p.queue.dispatch();
    expect(r1.assigned()).to.have.length(6);
    expect(sentInTx, 'no assign leaves before its assignment is committed').to.deep.equal([false, false, false, false, false, false]);
    expect(p.store.units.byBuild(id).every((u) => u.state === 'running' && u.runnerId === r1.runnerId)).to.equal(true);
    expect(transactions, 'transactions for six assigns: the first alone, then five').to.equal(2);
    expect(r1.assigned(), 'the longest first, as before').to.deep.equal(p.store.units.byBuild(id).map((u) => u.id));
  });

  it('sends nothing and gives the slots back when a dispatch\'s transaction fails, and assigns them all on the next dispatch', () => {
    p = pipeline();
    const r1 = p.runner('r1', 4);
    p.registry.join(r1, []);
    const id = p.build([1, 2, 3, 4].map((i) => [`test/${i}.test.js`]));
    const third = p.store.units.byBuild(id)[2].id;
    // A real SQLite failure on the third assignment (as a full disk fails a write).
    p.store.db.exec(`CREATE TRIGGER fail_third BEFORE UPDATE OF state ON units WHEN NEW.id = ${third}
      BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    expect(() => p.queue.dispatch()).to.throw(/disk is full/);
    const running = p.store.units.byBuild(id).filter((u) => u.state === 'running').map((u) => u.id);
    expect(r1.assigned(), 'what was sent is what is stored').to.deep.equal(running);
    expect([...r1.units], 'the slots held are the units stored as its own').to.deep.equal(running);
    p.store.db.exec('DROP TRIGGER fail_third');
    p.queue.dispatch();
    expect(r1.assigned()).to.have.length(4);
    expect(p.store.units.byBuild(id).every((u) => u.state === 'running')).to.equal(true);
  });

  it('runs a dispatch asked for inside a transaction after its commit, and not at all when it rolls back (no assign, no slot taken)', () => {
    p = pipeline();
    const r1 = p.runner('r1', 2);
    p.registry.join(r1, []);
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    expect(() => p.store.tx(() => { p.queue.dispatch(); throw new Error('the caller fails after asking'); })).to.throw(/caller fails/);
    expect(r1.sent, 'nothing sent').to.deep.equal([]);
    expect(r1.units.size, 'no slot taken').to.equal(0);
    expect(p.store.units.byBuild(id).map((u) => u.state)).to.deep.equal(['queued', 'queued']);
    p.store.tx(() => { p.queue.dispatch(); expect(r1.sent, 'not before the commit').to.deep.equal([]); });
    expect(r1.assigned()).to.have.length(2);
    expect(p.store.units.byBuild(id).map((u) => u.state)).to.deep.equal(['running', 'running']);
  });
});
