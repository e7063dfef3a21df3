import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { isBusy, probeWrite, retryWhileBusy, storageFaultOf } from '../../../server/store/health.js';
import { BUSY_TIMEOUT_MS } from '../../../server/store/db.js';
import { SmallDisk } from '../../fullDisk.js';
import { tempHome } from '../../helpers.js';

describe('store/health: storage faults at the SQLite boundary', () => {
  it('tells disk faults from other errors by the SQLite result code', () => {
    const sqlite = (code: string) => new Database.SqliteError('x', code);
    expect(storageFaultOf(sqlite('SQLITE_FULL'))).to.include({ kind: 'full', sqliteCode: 'SQLITE_FULL' });
    expect(storageFaultOf(sqlite('SQLITE_IOERR_WRITE'))).to.include({ kind: 'io', sqliteCode: 'SQLITE_IOERR_WRITE' });
    expect(storageFaultOf(sqlite('SQLITE_READONLY_DBMOVED'))).to.include({ kind: 'io' });
    expect(storageFaultOf(sqlite('SQLITE_CONSTRAINT_UNIQUE'))).to.equal(null);
    expect(storageFaultOf(sqlite('SQLITE_BUSY'))).to.equal(null);
    expect(storageFaultOf(new Error('database or disk is full'))).to.equal(null);
    expect(storageFaultOf('SQLITE_FULL')).to.equal(null);
  });

  it('gives up on another connection\'s write lock after BUSY_TIMEOUT_MS, with an error isBusy knows', () => {
    const home = tempHome();
    const file = join(home.dir, 'greengate.db');
    const store = openStore(file, { busyTimeoutMs: BUSY_TIMEOUT_MS });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const t0 = performance.now();
      let err: unknown = null;
      try { probeWrite(store.db); } catch (e) { err = e; }
      expect(performance.now() - t0).to.be.below(100);
      expect(isBusy(err)).to.equal(true);
      expect(storageFaultOf(err)).to.equal(null);
      other.exec('COMMIT');
      probeWrite(store.db);
    } finally {
      other.close();
      store.close();
      home.cleanup();
    }
    expect(isBusy(new Database.SqliteError('x', 'SQLITE_LOCKED_SHAREDCACHE'))).to.equal(true);
    expect(isBusy(new Database.SqliteError('x', 'SQLITE_FULL'))).to.equal(false);
  });

  it('retryWhileBusy tries again off the loop while busy, and throws other errors, or busy past its deadline', async () => {
    const busy = () => new Database.SqliteError('database is locked', 'SQLITE_BUSY');
    let tries = 0;
    expect(await retryWhileBusy(() => { if (++tries < 3) throw busy(); return 'stored'; })).to.equal('stored');
    expect(tries).to.equal(3);
    let other = 0;
    await retryWhileBusy(() => { other++; throw new Error('a bug'); }).then(() => expect.fail('resolved'), (e: Error) => expect(e.message).to.equal('a bug'));
    expect(other).to.equal(1);
    const t0 = performance.now();
    await retryWhileBusy(() => { throw busy(); }, { deadlineMs: 200 }).then(() => expect.fail('resolved'), (e) => expect(isBusy(e)).to.equal(true));
    expect(performance.now() - t0).to.be.below(1000);
    let stopped = 0;
    await retryWhileBusy(() => { stopped++; throw busy(); }, { stop: () => stopped >= 2 }).catch(() => undefined);
    expect(stopped).to.equal(2);
  });

  describe('on a real full disk', function () {
    this.timeout(20_000);
    let home: ReturnType<typeof tempHome>;
    let disk: SmallDisk;
    let store: Store;

    before(() => {
      home = tempHome();
      disk = new SmallDisk(join(home.dir, 'data'), 8).mount();
      store = openStore(join(disk.dir, 'greengate.db'));
    });
    after(() => {
      store?.close();
      disk?.unmount();
      home.cleanup();
    });

    it('a write fails with SQLITE_FULL and the probe fails, reads go on; both work again once space is freed', () => {
      const id = store.runners.register({ name: 'r1', slots: 1, version: 't', address: null, at: 1 });
      disk.fill();
      expect(disk.freeBytes()).to.equal(0);
      let thrown: unknown = null;
      try {
        store.runners.register({ name: 'r2', slots: 1, version: 't', address: null, at: 2 });
      } catch (err) {
        thrown = err;
      }
      expect(storageFaultOf(thrown)).to.include({ kind: 'full', sqliteCode: 'SQLITE_FULL' });
      expect(() => probeWrite(store.db)).to.throw().with.property('code', 'SQLITE_FULL');
      expect(store.runners.all().map((r) => r.id)).to.deep.equal([id]);
      disk.free();
      probeWrite(store.db);
      store.runners.register({ name: 'r2', slots: 1, version: 't', address: null, at: 2 });
      expect(store.runners.all()).to.have.length(2);
    });
  });
});
