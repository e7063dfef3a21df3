/** store/watchSamples on a real SQLite file: a window is stored once (the first stays), per deploy and stage; a released hold drops the windows after. */
import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';

describe('store/watchSamples', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let deployId: number;
  beforeEach(() => {
    home = tempHome('gg-watch-samples-');
    store = openStore(join(home.dir, 'greengate.db'));
    const repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
    deployId = store.deploys.request(repoId, 'main', 'a'.repeat(40), null as unknown as number, ['canary', 'production'], 1);
  });
  afterEach(() => { store.close(); home.cleanup(); });

  it('keeps the first copy of a window, lists a stage\'s windows by side then start, and drops only the windows after', () => {
    expect(store.watchSamples.add(deployId, 0, { side: 'after', from: 20, to: 30, readings: '{"a":1}', at: 5 })).to.equal(true);
    expect(store.watchSamples.add(deployId, 0, { side: 'after', from: 20, to: 30, readings: '{"a":2}', at: 6 })).to.equal(false);
    store.watchSamples.add(deployId, 0, { side: 'after', from: 10, to: 20, readings: '{}', at: 4 });
    store.watchSamples.add(deployId, 0, { side: 'before', from: 0, to: 10, readings: '{}', at: 3 });
    store.watchSamples.add(deployId, 0, { side: 'rest', from: 10, to: 20, readings: '{}', at: 4 });
    store.watchSamples.add(deployId, 1, { side: 'before', from: 0, to: 10, readings: '{}', at: 3 });
    expect(store.watchSamples.of(deployId, 0).map((r) => [r.side, r.from, r.readings])).to.deep.equal([
      ['after', 10, '{}'], ['after', 20, '{"a":1}'], ['before', 0, '{}'], ['rest', 10, '{}']]);
    store.watchSamples.dropAfter(deployId, 0);
    expect(store.watchSamples.of(deployId, 0).map((r) => r.side)).to.deep.equal(['before']);
    expect(store.watchSamples.of(deployId, 1)).to.have.length(1);
  });

  it('refuses a side it does not know (the schema checks it)', () => {
    expect(() => store.watchSamples.add(deployId, 0, { side: 'during' as never, from: 0, to: 1, readings: '{}', at: 1 })).to.throw(/CHECK/);
  });
});
