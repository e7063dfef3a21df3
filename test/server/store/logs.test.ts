import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('log chunks (store/logs)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let unit: number;
  beforeEach(() => {
    home = tempHome('gg-logs-');
    store = openStore(join(home.dir, 'greengate.db'));
    const repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    const build = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: 'a'.repeat(40),
      baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
    unit = store.units.create({ buildId: build, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 1, avoidRunnerId: null, lostCount: 0, at: 1 });
  });
  afterEach(() => { store.close(); home.cleanup(); });

  const chunk = (seq: number, offset: number, data: string) => ({ unitId: unit, seq, offset, stream: 'out' as const, data, at: 10 + seq });

  it('stores a chunk sent twice once (unit, seq is the key): the first copy stays', () => {
    expect(store.logs.append(chunk(0, 0, 'hello\n'))).to.equal(true);
    expect(store.logs.append(chunk(0, 0, 'a resend that differs\n'))).to.equal(false);
    expect(store.logs.chunksSince(unit, 0).map((c) => c.data)).to.deep.equal(['hello\n']);
    expect(store.logs.stats(unit)).to.deep.equal({ chunks: 1, maxSeq: 0 });
  });

  it('reads chunks in seq order from a seq (with a limit) or from a byte offset', () => {
    store.logs.append(chunk(2, 12, 'three\n'));
    store.logs.append(chunk(0, 0, 'one\n'));
    store.logs.append(chunk(1, 4, 'two\n'));
    store.logs.append({ ...chunk(3, 18, 'oops\n'), stream: 'err' });
    expect(store.logs.chunksSince(unit, 1).map((c) => c.seq)).to.deep.equal([1, 2, 3]);
    expect(store.logs.chunksSince(unit, 0, 2).map((c) => c.data)).to.deep.equal(['one\n', 'two\n']);
    expect(store.logs.chunksFromOffset(unit, 12).map((c) => [c.seq, c.stream])).to.deep.equal([[2, 'out'], [3, 'err']]);
    expect(store.logs.chunksSince(unit, 3)[0]).to.deep.equal({ unitId: unit, seq: 3, offset: 18, stream: 'err', data: 'oops\n', at: 13 });
    expect(store.logs.stats(unit)).to.deep.equal({ chunks: 4, maxSeq: 3 });
    expect(store.logs.stats(unit + 1)).to.deep.equal({ chunks: 0, maxSeq: -1 });
  });
});
