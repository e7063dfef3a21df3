/**
 * The watch's stored windows (immune/samples): windows add up per side, histograms by bound, the
 * +Inf bound survives JSON, and a SQLite book keeps what a watch saved across a reopen (a restart).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { combine, fromJson, storedBook, toJson, toReading, type WindowReading } from '../../../server/immune/samples.js';
import { openStore } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('immune/samples: stored windows', () => {
  it('adds windows: counts sum, histogram buckets add by bound, summary values join; none gives null', () => {
    expect(combine([])).to.equal(null);
    expect(combine([{ kind: 'ratio', errors: 1, total: 100 }, { kind: 'ratio', errors: 4, total: 300 }])).to.deep.equal({ kind: 'ratio', errors: 5, total: 400 });
    expect(combine([{ kind: 'rate', count: 3, seconds: 2 }, { kind: 'rate', count: 5, seconds: 2 }])).to.deep.equal({ kind: 'rate', count: 8, seconds: 4 });
    expect(combine([{ kind: 'summary', values: [1, 2] }, { kind: 'summary', values: [3] }])).to.deep.equal({ kind: 'summary', values: [1, 2, 3] });
    const h = combine([
      { kind: 'histogram', bounds: [0.1, Infinity], counts: [2, 1], sum: 0.5, count: 3 },
      { kind: 'histogram', bounds: [0.1, 0.5, Infinity], counts: [1, 1, 0], sum: 0.4, count: 2 },
    ]);
    expect(h).to.deep.equal({ kind: 'histogram', bounds: [0.1, 0.5, Infinity], counts: [3, 1, 1], sum: 0.9, count: 5 });
    const latency = toReading(h!);
    expect(latency).to.deep.include({ kind: 'latency', mean: 0.9 / 5 });
    expect((latency as { samples: number[] }).samples).to.deep.equal([0.1, 0.1, 0.1, 0.5, 1]); // over the last bucket: twice the top bound
  });

  it('a histogram\'s +Inf bound and a window without data survive the JSON they are stored as', () => {
    const readings: Record<string, WindowReading | null> = {
      latency: { kind: 'histogram', bounds: [0.1, Infinity], counts: [1, 2], sum: 1, count: 3 }, errors: null,
    };
    expect(fromJson(toJson(readings))).to.deep.equal(readings);
    expect(fromJson('not json')).to.deep.equal({});
  });

  it('a SQLite book keeps each window once, across a reopen of the database', () => {
    const home = tempHome('gg-samples-');
    try {
      let store = openStore(join(home.dir, 'greengate.db'));
      const repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
      const id = store.deploys.request(repoId, 'main', 'a'.repeat(40), null as unknown as number, ['canary'], 1);
      const book = storedBook(store.watchSamples, id, 0, () => 5);
      book.save({ side: 'before', from: 0, to: 10, readings: { errors: { kind: 'ratio', errors: 1, total: 100 } } });
      book.save({ side: 'before', from: 0, to: 10, readings: { errors: { kind: 'ratio', errors: 50, total: 100 } } }); // the first stays
      book.save({ side: 'after', from: 10, to: 12, readings: { errors: null } });
      store.close();
      store = openStore(join(home.dir, 'greengate.db'));
      expect(storedBook(store.watchSamples, id, 0).load()).to.deep.equal([
        { side: 'after', from: 10, to: 12, readings: { errors: null } },
        { side: 'before', from: 0, to: 10, readings: { errors: { kind: 'ratio', errors: 1, total: 100 } } },
      ]);
      store.watchSamples.dropAfter(id, 0);
      expect(store.watchSamples.of(id, 0).map((r) => r.side)).to.deep.equal(['before']);
      expect(store.watchSamples.of(id, 1)).to.deep.equal([]);
      store.close();
    } finally {
      home.cleanup();
    }
  });
});
