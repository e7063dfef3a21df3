import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { checkFlagsFile } from '../../../server/flags/definitions.js';
import { FlagSet } from '../../../server/flags/evaluator.js';
import { FlagExperiments } from '../../../server/flags/experiments.js';
import { FlagEventRetention } from '../../../server/flags/eventRetention.js';
import { openStore, type Store } from '../../../server/store/index.js';
import type { ConversionRow, ExposureRow } from '../../../server/store/experiments.js';
import type { RepositoryConfig } from '../../../server/config/config.js';
import { tempHome } from '../../helpers.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7, 12);
const TODAY = Math.floor(NOW / DAY);
const FLAGS = JSON.stringify({
  flags: {
    // a running experiment: a 50/50 split
    'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
    // no split: nothing to judge
    banner: { state: 'ENABLED', variants: { a: 'Hello', b: 'Welcome' }, defaultVariant: 'b' },
  },
});

describe('flag event retention (flags/eventRetention.ts)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  let set: FlagSet | null;
  let experiments: FlagExperiments;
  const log = pino({ level: 'silent' });
  const repos = (eventRetentionDays?: number) => [{ name: 'shop', path: '/srv/shop.git',
    flags: { file: 'flags.json', token: 'shop-flags-token-0123456789', ...(eventRetentionDays ? { eventRetentionDays } : {}) } }] as unknown as RepositoryConfig[];
  const retention = (config: { repositories: RepositoryConfig[] }, batch?: number) =>
    new FlagEventRetention({ store, config, library: { of: () => ({ set, sha: null, problem: null, loadedAt: 0 }) }, experiments, log, now: () => NOW, batch });

  beforeEach(() => {
    home = tempHome('gg-flag-retention-');
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync(repos()).get('shop')!.id;
    const checked = checkFlagsFile(FLAGS, 'flags.json');
    if (!checked.ok) throw new Error(checked.problems.join('; '));
    set = new FlagSet(checked.set);
    experiments = new FlagExperiments({ store, library: { of: () => ({ set, sha: null, problem: null, loadedAt: 0 }) }, log, now: () => NOW });
  });
  afterEach(() => { store.close(); home.cleanup(); });

  /** `n` users' exposures (and a conversion for every other one) of key/phase on `day`. */
  const add = (key: string, phase: string, day: number, n: number, variant = 'on') => {
    const exposures: ExposureRow[] = [];
    const conversions: ConversionRow[] = [];
    for (let i = 0; i < n; i++) {
      exposures.push({ key, phase, user: `${key}-${phase}-${day}-${i}`, day, variant: i % 2 ? variant : 'off' });
      if (i % 2 === 0) conversions.push({ key, phase, metric: 'checkout', user: `${key}-${phase}-${day}-${i}`, day, value: 1 });
    }
    store.tx(() => store.experiments.add(repoId, exposures, conversions));
  };
  const count = (table: string, where = '1') => (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`).get() as { n: number }).n;

  it('deletes events older than eventRetentionDays (default 90) in batches, but keeps a running experiment\'s phase whole', async () => {
    const running = experiments.phaseOf('shop', 'new-cart')!.phase;
    const plain = experiments.phaseOf('shop', 'banner')!.phase;
    add('new-cart', running, TODAY - 200, 30); // the running experiment's oldest days: kept
    add('new-cart', 'ended-phase', TODAY - 91, 25); // an earlier split of the same flag: gone
    add('new-cart', 'ended-phase', TODAY - 90, 4); // exactly 90 days ago: kept
    add('banner', plain, TODAY - 120, 7, 'a'); // no split: nothing running, gone
    add('banner', plain, TODAY - 1, 3, 'a');
    const before = experiments.results('shop', 'new-cart');

    const report = await retention({ repositories: repos() }, 10).runNow();

    expect(report).to.deep.equal({ exposures: 25 + 7, conversions: 13 + 4, skipped: [] });
    expect(count('flag_exposures', `phase = '${running}'`)).to.equal(30);
    expect(count('flag_conversions', `phase = '${running}'`)).to.equal(15);
    expect(count('flag_exposures', "phase = 'ended-phase'")).to.equal(4);
    expect(count('flag_exposures', `key = 'banner'`)).to.equal(3);
    expect(experiments.results('shop', 'new-cart')).to.deep.equal(before); // the running verdict is unchanged
    expect(await retention({ repositories: repos() }, 10).runNow()).to.deep.equal({ exposures: 0, conversions: 0, skipped: [] });
  });

  it('reads flags.eventRetentionDays per repository; prunes the ended phase once a push changes the split', async () => {
    const first = experiments.phaseOf('shop', 'new-cart')!.phase;
    add('new-cart', first, TODAY - 10, 6);
    expect((await retention({ repositories: repos(7) }).runNow()).exposures).to.equal(0); // still running
    const moved = checkFlagsFile(FLAGS.replace('["on",50],["off",50]', '["on",80],["off",20]'), 'flags.json');
    if (!moved.ok) throw new Error(moved.problems.join('; '));
    set = new FlagSet(moved.set); // a push: a new phase
    expect(experiments.phaseOf('shop', 'new-cart')!.phase).to.not.equal(first);
    expect(await retention({ repositories: repos(7) }).runNow()).to.deep.equal({ exposures: 6, conversions: 3, skipped: [] });
  });

  it('skips a repository whose flags are not loaded (its running phases are unknown)', async () => {
    add('new-cart', 'any', TODAY - 400, 5);
    set = null;
    expect(await retention({ repositories: repos() }).runNow()).to.deep.equal({ exposures: 0, conversions: 0, skipped: ['shop'] });
    expect(count('flag_exposures')).to.equal(5);
  });
});
