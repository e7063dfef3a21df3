/**
 * The AlertBook on a real SQLite file (immune/alerts, store/alerts): an alert is known by
 * fingerprint and startsAt, so a replay or a repeat changes nothing; only alerts that started at or
 * after a watch's start count for it; nothing is forgotten by a restart.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { AlertBook, MAX_ALERTS } from '../../../server/immune/alerts.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('immune/alerts: the AlertBook in SQLite', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let now = 1_000_000;
  const iso = (ms: number) => new Date(ms).toISOString();
  beforeEach(() => {
    home = tempHome('gg-alerts-');
    store = openStore(join(home.dir, 'greengate.db'));
    now = Date.parse('2026-01-01T12:00:00Z');
  });
  afterEach(() => { store.close(); home.cleanup(); });

  it('a firing alert counts for a watch that began before it started, not for one that began after', () => {
    const book = new AlertBook(store.alerts, () => now);
    expect(book.record({ status: 'firing', labels: { alertname: 'HighErrors', service: 'shop' }, startsAt: iso(now - 1_000), fingerprint: 'f' })).to.equal(true);
    expect(book.alertsFiring('shop', now - 5_000).map((a) => a.name)).to.deep.equal(['HighErrors']);
    expect(book.alertsFiring('shop', now - 500), 'started before the watch: not caused by it').to.deep.equal([]);
    expect(book.alertsFiring('cart', now - 5_000)).to.deep.equal([]);
  });

  it('a replayed or repeated message changes nothing; a firing replay of a resolved alert does not fire it again', () => {
    const book = new AlertBook(store.alerts, () => now);
    const firing = { status: 'firing' as const, labels: { alertname: 'HighErrors', job: 'shop' }, startsAt: iso(now - 1_000), fingerprint: 'f' };
    expect(book.record(firing)).to.equal(true);
    expect(book.record(firing)).to.equal(false);
    expect(book.record({ ...firing, status: 'resolved', endsAt: iso(now) })).to.equal(true);
    expect(book.record({ ...firing, status: 'resolved', endsAt: iso(now + 5) })).to.equal(false);
    now += 60_000;
    expect(book.record(firing)).to.equal(false);
    expect(book.alertsFiring('shop', now - 120_000)[0].endsAt).to.equal(now - 60_000);
    // The same alert firing anew (a new startsAt) is a new alert.
    expect(book.record({ ...firing, startsAt: iso(now - 10) })).to.equal(true);
    expect(book.size()).to.equal(2);
  });

  it('is kept across a restart; a startsAt in the future is taken as now; without a fingerprint the labels identify it', () => {
    const book = new AlertBook(store.alerts, () => now);
    book.record({ status: 'firing', labels: { alertname: 'Slow', app: 'shop' }, startsAt: iso(now + 3_600_000) });
    expect(book.record({ status: 'firing', labels: { app: 'shop', alertname: 'Slow' }, startsAt: iso(now + 3_600_000) })).to.equal(false);
    store.close();
    store = openStore(join(home.dir, 'greengate.db'));
    const again = new AlertBook(store.alerts, () => now);
    expect(again.alertsFiring('shop', now).map((a) => [a.name, a.startsAt])).to.deep.equal([['Slow', now]]);
  });

  it('keeps at most MAX_ALERTS, forgetting the oldest', () => {
    const book = new AlertBook(store.alerts, () => now);
    for (let i = 0; i <= MAX_ALERTS; i++) {
      now += 1;
      book.record({ status: 'firing', labels: { alertname: `A${i}`, service: 'shop' }, startsAt: iso(now), fingerprint: `f${i}` });
    }
    expect(book.size()).to.equal(MAX_ALERTS);
    expect(book.alertsFiring('shop', 0)[0].name).to.equal('A1');
  });
});
