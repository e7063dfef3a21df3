import { expect } from 'chai';
import { shopStore, SHA_A } from '../memory.js';
import type { Store } from '../../../server/store/index.js';

function seed(store: Store, repoId: number): { build: number; unit: number } {
  const build = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: SHA_A,
    baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
  const unit = store.units.create({ buildId: build, seq: 1, files: ['a.test.js'], attempt: 1, retryOf: null, priority: 0,
    expectedMs: 10, avoidRunnerId: null, lostCount: 0, at: 1 });
  return { build, unit };
}

describe('store/rowCache: unit and build rows kept for one transaction and the work after its commit', () => {
  it('inside a transaction a unit or build row is read once and handed out again (a write behind the store\'s back is not seen until the end)', () => {
    const { store, repoId } = shopStore();
    try {
      const { build, unit } = seed(store, repoId);
      store.tx(() => {
        expect(store.units.get(unit)!.logBytes).to.equal(0);
        expect(store.builds.get(build)!.expectedMs).to.equal(0);
        // Not through the store: only to show the rows are not read again within the transaction.
        store.db.prepare('UPDATE units SET log_bytes = 7 WHERE id = ?').run(unit);
        store.db.prepare('UPDATE builds SET expected_ms = 9 WHERE id = ?').run(build);
        expect(store.units.get(unit)!.logBytes).to.equal(0);
        expect(store.builds.get(build)!.expectedMs).to.equal(0);
      });
      // Outside a transaction nothing is kept: the next read sees the rows as stored.
      expect(store.units.get(unit)!.logBytes).to.equal(7);
      expect(store.builds.get(build)!.expectedMs).to.equal(9);
    } finally {
      store.close();
    }
  });

  it('every write through the store is seen by the next read in the same transaction, and a copy handed out cannot change the kept row', () => {
    const { store, repoId } = shopStore();
    try {
      const { build, unit } = seed(store, repoId);
      const runner = store.runners.register({ name: 'r1', slots: 1, version: 'test', address: null, at: 1, labels: {} });
      store.tx(() => {
        const row = store.units.get(unit)!;
        row.state = 'done';
        expect(store.units.get(unit)!.state).to.equal('queued');
        expect(store.units.assign(unit, runner, 2)).to.equal(true);
        expect(store.units.get(unit)).to.include({ state: 'running', runner: 'r1', runnerId: runner });
        store.units.markStarted(unit, 3);
        expect(store.units.get(unit)!.startedAt).to.equal(3);
        store.units.addLogBytes(unit, 5);
        expect(store.units.get(unit)!.logBytes).to.equal(5);
        store.units.recordSetup(unit, 12, true);
        expect(store.units.get(unit)).to.include({ setupMs: 12, cacheHit: 1 });
        expect(store.units.requestCancel(unit)).to.equal(true);
        expect(store.units.get(unit)!.cancelRequested).to.equal(1);
        store.contention.setConcurrency(unit, 1.5);
        expect(store.units.get(unit)!.concurrency).to.equal(1.5);
        expect(store.units.finish(unit, { result: 'passed', exitCode: 0, signal: null, error: null, at: 4 })).to.equal(true);
        expect(store.units.get(unit)).to.include({ state: 'done', result: 'passed', finishedAt: 4 });

        expect(store.builds.get(build)!.state).to.equal('queued');
        expect(store.builds.markStarted(build, 2)).to.equal(true);
        expect(store.builds.get(build)!.state).to.equal('running');
        store.builds.setProgress(build, 1, 0, 10);
        expect(store.builds.get(build)).to.include({ unitsTotal: 1, unitsDone: 0, expectedMs: 10 });
        store.builds.adjustProgress(build, 0, 1, -10);
        expect(store.builds.get(build)).to.include({ unitsDone: 1, expectedMs: 0 });
        store.builds.setNewFailures(build, 2);
        expect(store.builds.get(build)!.newFailures).to.equal(2);
        store.builds.setError(build, 'why');
        expect(store.builds.get(build)!.error).to.equal('why');
        expect(store.builds.finish(build, 'passed', null, 5)).to.equal(true);
        expect(store.builds.get(build)).to.include({ state: 'done', result: 'passed' });
      });
      store.tx(() => {
        const queued = store.units.create({ buildId: build, seq: 2, files: ['b.test.js'], attempt: 1, retryOf: null, priority: 0,
          expectedMs: 10, avoidRunnerId: null, lostCount: 0, at: 1 });
        expect(store.units.get(queued)!.state).to.equal('queued');
        store.units.cancelQueued(build, 6);
        expect(store.units.get(queued)).to.include({ state: 'done', result: 'cancelled' });
        const again = store.units.create({ buildId: build, seq: 3, files: ['c.test.js'], attempt: 1, retryOf: null, priority: 0,
          expectedMs: 10, avoidRunnerId: null, lostCount: 0, at: 1 });
        expect(store.units.get(again)).to.not.equal(undefined);
        store.units.deleteQueued(build);
        expect(store.units.get(again)).to.equal(undefined);
      });
    } finally {
      store.close();
    }
  });

  it('the work after a commit reads the rows as the transaction left them, without reading them again; a transaction it opens starts afresh', () => {
    const { store, repoId } = shopStore();
    try {
      const { unit } = seed(store, repoId);
      const seen: number[] = [];
      store.tx(() => {
        store.units.addLogBytes(unit, 5);
        expect(store.units.get(unit)!.logBytes).to.equal(5);
        store.afterCommit(() => {
          // Not through the store: only to show the row read in the transaction is handed out again.
          store.db.prepare('UPDATE units SET log_bytes = 7 WHERE id = ?').run(unit);
          seen.push(store.units.get(unit)!.logBytes);
          store.tx(() => seen.push(store.units.get(unit)!.logBytes));
        });
      });
      expect(seen).to.deep.equal([5, 7]);
      expect(store.units.get(unit)!.logBytes).to.equal(7);
    } finally {
      store.close();
    }
  });

  it('a write through the store sets the same values in the kept row as its SQL does, without reading it again', () => {
    const { store, repoId } = shopStore();
    try {
      const { build, unit } = seed(store, repoId);
      const runner = store.runners.register({ name: 'r1', slots: 1, version: 'test', address: null, at: 1, labels: {} });
      const fresh = store.db.prepare('SELECT log_bytes AS logBytes FROM units WHERE id = ?');
      store.tx(() => {
        store.units.assign(unit, runner, 2);
        const before = store.units.get(unit)!; // read once here
        // Not through the store: only to show the writes below keep the row rather than read it again.
        store.db.prepare('UPDATE units SET signal = ?, files = ? WHERE id = ?').run('SIGXCPU', '["z.test.js"]', unit);
        store.units.markStarted(unit, 3.5);
        store.units.addLogBytes(unit, 5);
        store.units.addLogBytes(unit, 6);
        store.units.recordSetup(unit, 12.4, false);
        store.units.requestCancel(unit);
        store.units.finish(unit, { result: 'cancelled', exitCode: null, signal: null, error: 'cancelled', at: 4 });
        const kept = store.units.get(unit)!;
        expect(kept.files).to.equal('["a.test.js"]'); // not read again
        expect(kept.signal).to.equal(null); // from finish
        expect(kept).to.include({ startedAt: 3.5, logBytes: 11, setupMs: 12, cacheHit: 0, cancelRequested: 1, state: 'done',
          result: 'cancelled', error: 'cancelled', finishedAt: 4, runnerId: runner });
        expect((fresh.get(unit) as { logBytes: number }).logBytes).to.equal(11);
        expect(before.state).to.equal('running');
        // A write that changes nothing (the unit is done) leaves the kept row as it is.
        store.units.markStarted(unit, 9);
        store.units.recordSetup(unit, 99, true);
        expect(store.units.get(unit)).to.include({ startedAt: 3.5, setupMs: 12, cacheHit: 0 });

        // An assign to a runner whose name a row showed keeps the row too (with that name).
        const next = store.units.create({ buildId: build, seq: 2, files: ['b.test.js'], attempt: 1, retryOf: null, priority: 0,
          expectedMs: 10, avoidRunnerId: null, lostCount: 0, at: 1 });
        expect(store.units.get(next)!.state).to.equal('queued');
        store.db.prepare('UPDATE units SET files = ? WHERE id = ?').run('["y.test.js"]', next);
        expect(store.units.assign(next, runner, 7)).to.equal(true);
        expect(store.units.get(next)).to.include({ state: 'running', runnerId: runner, runner: 'r1', assignedAt: 7, files: '["b.test.js"]' });
        expect(store.units.assign(next, runner, 8)).to.equal(false);
        expect(store.units.get(next)!.assignedAt).to.equal(7);

        store.builds.get(build);
        store.builds.markStarted(build, 2);
        store.builds.setProgress(build, 3, 1, 40);
        store.builds.adjustProgress(build, 1, 1, -50.4);
        store.builds.setNewFailures(build, 2);
        store.builds.finish(build, 'failed', 'x', 5);
        expect(store.builds.markStarted(build, 6)).to.equal(false);
        expect(store.builds.get(build)).to.include({ state: 'done', startedAt: 2, unitsTotal: 4, unitsDone: 2, expectedMs: 0, newFailures: 2,
          result: 'failed', reason: 'x', finishedAt: 5 });
      });
      const stored = store.units.get(unit)!;
      expect(stored.files).to.equal('["z.test.js"]');
      expect(stored).to.include({ startedAt: 3.5, logBytes: 11, setupMs: 12, cacheHit: 0, state: 'done', result: 'cancelled', signal: null });
      expect(store.builds.get(build)).to.include({ state: 'done', startedAt: 2, unitsTotal: 4, unitsDone: 2, expectedMs: 0, newFailures: 2 });
    } finally {
      store.close();
    }
  });

  it('a savepoint that rolls back forgets the rows read inside it', () => {
    const { store, repoId } = shopStore();
    try {
      const { unit } = seed(store, repoId);
      store.tx(() => {
        expect(() => store.tx(() => {
          store.units.addLogBytes(unit, 5);
          expect(store.units.get(unit)!.logBytes).to.equal(5);
          throw new RangeError('undo');
        })).to.throw(RangeError);
        expect(store.units.get(unit)!.logBytes).to.equal(0);
      });
      expect(store.units.get(unit)!.logBytes).to.equal(0);
    } finally {
      store.close();
    }
  });
});
