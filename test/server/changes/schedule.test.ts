import { expect } from 'chai';
import pino from 'pino';
import { Repo, tempHome } from '../../helpers.js';
import { Scheduler, MAX_SLEEP_MS, RETRY_AFTER_MS } from '../../../server/changes/schedule.js';
import { nextFire } from '../../../server/config/schedule.js';
import { builder, config, pipeline, type Pipeline } from '../memory.js';

describe('changes/schedule: a builder\'s schedule builds its branch head, once per due time, across restarts', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let p: Pipeline;
  let head: string;
  const T0 = Date.UTC(2026, 5, 1, 12, 0, 0); // noon
  const log = pino({ level: 'silent' });

  beforeEach(() => {
    home = tempHome('gg-schedule-');
    repo = new Repo(home.dir);
    head = repo.commit({ 'test/a.test.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    p = pipeline(config({ path: repo.bare, builders: [builder({ name: 'nightly', schedule: { cron: '0 3 * * *', branch: null } }),
      builder({ name: 'unit' })] }));
  });
  afterEach(() => { p.close(); home.cleanup(); });

  /** A scheduler on the pipeline's store whose clock is `clock.now`, its timers recorded, not run. */
  function scheduler(clock: { now: number }, timers: number[] = []): Scheduler {
    return new Scheduler({ store: p.store, config: p.cfg, builds: p.parts.manual, log, now: () => clock.now,
      timers: { set: (_f, ms) => { timers.push(ms); return timers.length; }, clear: () => undefined } });
  }

  it('records a schedule seen first without building, then builds the head of the first gated branch at its time, once', async () => {
    const clock = { now: T0 };
    const s = scheduler(clock);
    expect(await s.tick()).to.deep.equal([]);
    expect(p.store.buildCauses.lastScheduled('shop', 'nightly')).to.equal(T0);
    clock.now = nextFire('0 3 * * *', T0)! - 1;
    expect(await s.tick()).to.deep.equal([]);
    clock.now += 2;
    const ids = await s.tick();
    expect(ids).to.have.length(1);
    const b = p.store.builds.get(ids[0])!;
    expect([b.builder, b.branch, b.ref, b.kind, b.purpose, b.sha]).to.deep.equal(['nightly', 'main', 'refs/heads/main', 'branch', 'normal', head]);
    expect(p.store.buildCauses.of(ids[0])).to.deep.equal({ cause: 'schedule', startedBy: null, rebuildOf: null, params: {} });
    expect(await s.tick()).to.deep.equal([]); // the same time never twice
  });

  it('after a restart runs the times missed while down once (not once per missed time), and never twice', async () => {
    const clock = { now: T0 };
    await scheduler(clock).tick(); // first seen at T0
    clock.now = T0 + 3 * 86_400_000 + 60_000; // three 03:00s missed while "down"
    const restarted = scheduler(clock);
    const ids = await restarted.tick();
    expect(ids).to.have.length(1);
    expect(await restarted.tick()).to.deep.equal([]);
    expect(await scheduler(clock).tick()).to.deep.equal([]); // another restart at the same time: nothing
    expect(p.store.buildCauses.lastScheduled('shop', 'nightly')).to.equal(clock.now);
  });

  it('two schedulers on one database at the same due time build it once', async () => {
    const clock = { now: T0 };
    await scheduler(clock).tick();
    clock.now = nextFire('0 3 * * *', T0)! + 10;
    const [a, b] = await Promise.all([scheduler(clock).tick(), scheduler(clock).tick()]);
    expect(a.length + b.length).to.equal(1);
  });

  it('sleeps until the next due time, at most a minute', async () => {
    const clock = { now: T0 };
    const timers: number[] = [];
    const s = scheduler(clock, timers);
    s.start();
    await s.tick();
    expect(timers.at(-1)).to.equal(MAX_SLEEP_MS + 5);
    clock.now = nextFire('0 3 * * *', T0)! - 30_000; // 30 s before 03:00
    await s.tick();
    expect(timers.at(-1)).to.equal(30_005);
    s.stop();
  });

  it('a schedule that cannot start its build (no such branch) is logged, stays due, and is tried again a minute later', async () => {
    p.close();
    p = pipeline(config({ path: repo.bare, builders: [builder({ name: 'nightly', schedule: { cron: '0 3 * * *', branch: 'gone' } })] }));
    const warned: string[] = [];
    const clock = { now: T0 };
    const s = new Scheduler({ store: p.store, config: p.cfg, builds: p.parts.manual, now: () => clock.now,
      log: { info: () => undefined, warn: (obj: object) => { warned.push(JSON.stringify(obj)); } } as never,
      timers: { set: () => 0, clear: () => undefined } });
    await s.tick();
    clock.now = nextFire('0 3 * * *', T0)! + 10;
    expect(await s.tick()).to.deep.equal([]);
    expect(warned.join('\n')).to.contain('has no branch gone');
    expect(p.store.buildCauses.lastScheduled('shop', 'nightly')).to.equal(T0); // still due
    await s.tick();
    expect(warned).to.have.length(1); // not again within the minute
    clock.now += RETRY_AFTER_MS;
    await s.tick();
    expect(warned).to.have.length(2);
  });
});
