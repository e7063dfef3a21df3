import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { checkFlagsFile } from '../../../server/flags/definitions.js';
import { FlagSet } from '../../../server/flags/evaluator.js';
import { FLUSH_ROWS, FlagExperiments } from '../../../server/flags/experiments.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { pollUntil, tempHome } from '../../helpers.js';

const FLAGS = JSON.stringify({ flags: {
  'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
} });

describe('A/B test exposures (flags/experiments.ts)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let experiments: FlagExperiments;
  beforeEach(() => {
    home = tempHome('gg-experiments-');
    store = openStore(join(home.dir, 'greengate.db'));
    store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]);
    const checked = checkFlagsFile(FLAGS, 'flags.json');
    if (!checked.ok) throw new Error(checked.problems.join('; '));
    const set = new FlagSet(checked.set);
    experiments = new FlagExperiments({ store, library: { of: () => ({ set, sha: null, problem: null, loadedAt: 0 }) }, log: pino({ level: 'silent' }) });
  });
  afterEach(() => { experiments.stop(); store.close(); home.cleanup(); });
  const exposures = () => (store.db.prepare('SELECT COUNT(*) AS n FROM flag_exposures').get() as { n: number }).n;

  it('writes buffered exposures in transactions of at most FLUSH_ROWS, the event loop turning between them; stop writes the rest at once', async () => {
    const tx = store.tx.bind(store);
    const sizes: number[] = [];
    store.tx = ((fn: () => unknown) => { const before = exposures(); const r = tx(fn); sizes.push(exposures() - before); return r; }) as typeof store.tx;
    const n = 2 * FLUSH_ROWS + 100;
    for (let i = 0; i < n; i++) experiments.expose('shop', 'new-cart', i % 2 ? 'on' : 'off', `user-${i}`);
    experiments.start();
    await pollUntil(() => exposures() === n, 'every exposure to be written', 5_000);
    expect(sizes).to.deep.equal([FLUSH_ROWS, FLUSH_ROWS, 100]);

    for (let i = n; i < n + 10; i++) experiments.expose('shop', 'new-cart', 'on', `user-${i}`);
    experiments.stop();
    expect(exposures()).to.equal(n + 10);
  });
});
