import { expect } from 'chai';
import { BuildLifecycle, LOST_PRIORITY, MAX_LOSSES, RETRY_PRIORITY } from '../../../server/results/lifecycle.js';
import { pino } from 'pino';
import { builder, config, finished, pipeline, SHA_A, testCase, type Pipeline, type FakeLink } from '../memory.js';

describe('results/lifecycle: one owner of a build\'s life', () => {
  let p: Pipeline;
  let r1: FakeLink;
  let r2: FakeLink;
  beforeEach(() => {
    p = pipeline();
    r1 = p.runner('r1', 4);
    r2 = p.runner('r2', 4);
  });
  afterEach(() => p.close());

  const units = (buildId: number) => p.store.units.byBuild(buildId);
  const build = (id: number) => p.store.builds.get(id)!;
  const treeState = () => p.store.tree.get(p.repoId, 'main');
  /** Assigns every queued unit of the build to `link`'s runner; their ids. */
  function assignAll(buildId: number, link: FakeLink = r1): number[] {
    const ids = units(buildId).filter((u) => u.state === 'queued').map((u) => u.id);
    for (const id of ids) expect(p.lifecycle.assign(id, link.runnerId)).to.equal(true);
    return ids;
  }

  it('moves the counters by one per finished unit and finishes the build when the last current unit ends', () => {
    const id = p.build([['test/a.test.js'], ['test/b.test.js'], ['test/c.test.js']]);
    expect(build(id)).to.include({ state: 'queued', unitsTotal: 3, unitsDone: 0, expectedMs: 3000 });
    const [a, b, c] = assignAll(id);
    expect(build(id).state).to.equal('running');
    expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a))).to.equal(true);
    expect(build(id)).to.include({ state: 'running', unitsTotal: 3, unitsDone: 1, expectedMs: 2000 });
    expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(b))).to.equal(true);
    expect(build(id)).to.include({ state: 'running', unitsDone: 2, result: null });
    expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(c))).to.equal(true);
    expect(build(id)).to.include({ state: 'done', result: 'passed', unitsTotal: 3, unitsDone: 3, expectedMs: 0 });
  });

  it('refuses a report from a runner that does not hold the unit, and records a repeated report once', () => {
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    const [a] = assignAll(id);
    expect(p.lifecycle.unitFinished(r2.runnerId, 'r2', finished(a)), 'not its unit').to.equal(false);
    expect(p.lifecycle.unitStarted(r2.runnerId, a, Date.now())).to.equal(false);
    expect(p.lifecycle.unitLog(r2.runnerId, { type: 'log', unit: a, seq: 0, offset: 0, stream: 'out', data: 'x' })).to.equal(false);
    expect(p.store.units.get(a)!.state).to.equal('running');
    expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a))).to.equal(true);
    expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: 1 })), 'a repeat after a reconnect').to.equal(true);
    expect(p.store.units.get(a)!.result).to.equal('passed');
    expect(build(id).unitsDone).to.equal(1);
  });

  it('learns nothing from another runner\'s report: its file times, tests and run time change no duration or cost', () => {
    const id = p.build([['test/a.test.js', 'test/b.test.js']]);
    const [a] = assignAll(id);
    const before = { durations: [...p.store.tests.fileDurations(p.repoId, 'unit')], cost: p.store.costs.get(p.repoId, 'unit') };
    const forged = finished(a, { durationMs: 90_000, tests: [testCase('forged', 'failed', 'test/a.test.js')],
      fileTimes: [{ file: 'test/a.test.js', ms: 60_000 }, { file: 'test/b.test.js', ms: 1 }] });
    expect(p.lifecycle.unitFinished(r2.runnerId, 'r2', forged), 'not its unit').to.equal(false);
    expect([...p.store.tests.fileDurations(p.repoId, 'unit')]).to.deep.equal(before.durations);
    expect(p.store.costs.get(p.repoId, 'unit')).to.deep.equal(before.cost);
    expect(p.store.tests.byUnit(a)).to.deep.equal([]);
    expect(p.store.units.get(a)!.state).to.equal('running');
  });

  it('closes the tree in the transaction that finishes a failed build, and reopens it when the next build passes', () => {
    // A green build first: a test failing in the builder's first build was broken before (newFailures.ts).
    const first = p.build([['test/a.test.js']], { sha: 'c'.repeat(40) });
    const [f] = assignAll(first);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(f));
    const red = p.build([['test/a.test.js']]);
    const [a] = assignAll(red);
    // The first attempt fails: a retry of it is queued; it fails again, so the build fails.
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: 1, tests: [testCase('adds', 'failed')] }));
    const retry = units(red).find((u) => u.retryOf === a)!;
    expect(retry).to.include({ state: 'queued', priority: RETRY_PRIORITY, avoidRunnerId: r1.runnerId, attempt: 2 });
    expect(build(red).state, 'its retry is still to run').to.equal('running');
    p.lifecycle.assign(retry.id, r2.runnerId);
    p.lifecycle.unitFinished(r2.runnerId, 'r2', finished(retry.id, { exitCode: 1, tests: [testCase('adds', 'failed')] }));
    expect(build(red)).to.include({ state: 'done', result: 'failed' });
    expect(treeState()).to.include({ state: 'closed', automatic: 1, buildId: red });
    expect(treeState()!.message).to.contain('failing tests: suite > adds').and.not.contain('adds, suite > adds');

    const green = p.build([['test/a.test.js']], { sha: 'b'.repeat(40) });
    const [g] = assignAll(green);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(g));
    expect(treeState()).to.include({ state: 'open', automatic: 1, buildId: green });
  });

  it('rolls the result back with the tree change when a writer inside the finishing transaction throws', () => {
    const seen: string[] = [];
    p.events.on('build', (b) => seen.push(`build ${b.state}`));
    p.events.on('tree', () => seen.push('tree'));
    p.events.on('unit', (u) => seen.push(`unit ${u.state}`));
    const id = p.build([['test/a.test.js']]);
    const [a] = assignAll(id);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: 1 }));
    const retry = units(id).find((u) => u.retryOf === a)!;
    p.lifecycle.assign(retry.id, r1.runnerId);
    let calls = 0;
    // The same lifecycle over the same database, whose writer list ends with one that fails.
    const failing = new BuildLifecycle(p.store, p.cfg, p.tree, p.events, pino({ level: 'silent' }), { buildFinished: (b) => {
      p.tree.buildFinished(b);
      calls++;
      expect(b).to.include({ id, result: 'failed' });
      expect(p.store.tree.get(p.repoId, 'main')!.state, 'the tree change is written before the later writers run').to.equal('closed');
      throw new Error('the outbox is full');
    } });
    seen.length = 0;
    expect(() => failing.unitFinished(r1.runnerId, 'r1', finished(retry.id, { exitCode: 1 }))).to.throw('the outbox is full');
    expect(calls).to.equal(1);
    expect(build(id)).to.include({ state: 'running', result: null, unitsDone: 0 });
    expect(p.store.units.get(retry.id)).to.include({ state: 'running', result: null });
    expect(treeState(), 'no closure without its result').to.equal(undefined);
    expect(seen, 'nothing told about what was rolled back').to.deep.equal([]);

    expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(retry.id, { exitCode: 1 }))).to.equal(true);
    expect(build(id).result).to.equal('failed');
    expect(treeState()!.state).to.equal('closed');
  });

  it('tells observers only after the commit', () => {
    const inTx: boolean[] = [];
    for (const e of ['build', 'buildFinished', 'unit', 'tree', 'log'] as const) p.events.on(e, () => inTx.push(p.store.db.inTransaction));
    const id = p.build([['test/a.test.js']]);
    const [a] = assignAll(id);
    p.lifecycle.unitStarted(r1.runnerId, a, Date.now());
    p.lifecycle.unitLog(r1.runnerId, { type: 'log', unit: a, seq: 0, offset: 0, stream: 'out', data: 'hello\n' });
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: 1 }));
    p.lifecycle.cancelBuild(id);
    expect(inTx.length).to.be.greaterThan(5);
    expect(inTx.every((t) => t === false)).to.equal(true);
  });

  it('keeps the counters right across a flaky retry: the retry replaces its unit, the build is flaky', () => {
    const id = p.build([['test/a.test.js', 'test/b.test.js'], ['test/c.test.js']]);
    const [ab, c] = assignAll(id);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(ab, { exitCode: 1,
      tests: [testCase('a1', 'failed', 'test/a.test.js'), testCase('b1', 'passed', 'test/b.test.js')] }));
    const retry = units(id).find((u) => u.retryOf === ab)!;
    expect(JSON.parse(retry.files), 'only the failing file runs again').to.deep.equal(['test/a.test.js']);
    expect(build(id)).to.include({ unitsTotal: 2, unitsDone: 0 });
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(c));
    expect(build(id)).to.include({ unitsTotal: 2, unitsDone: 1, state: 'running' });
    p.lifecycle.assign(retry.id, r2.runnerId);
    p.lifecycle.unitFinished(r2.runnerId, 'r2', finished(retry.id, { tests: [testCase('a1', 'passed', 'test/a.test.js')] }));
    expect(build(id)).to.include({ state: 'done', result: 'flaky', unitsTotal: 2, unitsDone: 2, expectedMs: 0 });
    const final = p.store.tests.finalByBuild(id);
    expect(final.map((t) => `${t.name} ${t.status}`).sort(), 'a test counts once per build').to.deep.equal(['a1 flaky', 'b1 passed']);
    expect(treeState(), 'flaky never closes the tree').to.equal(undefined);
  });

  it('requeues a lost unit at the front without moving the counters, and ends the build as exception after MAX_LOSSES', () => {
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    const [a, b] = assignAll(id);
    p.lifecycle.unitLost(p.store.units.get(a)!, 'runner r1 lost: gone');
    const again = units(id).find((u) => u.retryOf === a)!;
    expect(again).to.include({ state: 'queued', priority: LOST_PRIORITY, lostCount: 1, attempt: 1 });
    expect(p.store.units.get(a)).to.include({ state: 'done', result: 'exception' });
    expect(build(id)).to.include({ unitsTotal: 2, unitsDone: 0, state: 'running' });
    p.lifecycle.unitLost(p.store.units.get(a)!, 'again', Date.now());
    expect(units(id).filter((u) => u.retryOf === a), 'a unit already ended is not lost twice').to.have.length(1);

    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(b));
    expect(build(id)).to.include({ unitsDone: 1 });
    expect(MAX_LOSSES).to.equal(2);
    p.lifecycle.assign(again.id, r2.runnerId);
    p.lifecycle.unitLost(p.store.units.get(again.id)!, 'runner r2 lost: gone too');
    expect(units(id).filter((u) => u.state === 'queued'), 'lost twice: not queued again').to.have.length(0);
    expect(build(id)).to.include({ state: 'done', result: 'exception', reason: 'runner r2 lost: gone too', unitsDone: 2 });
    expect(treeState(), 'exception never closes the tree').to.equal(undefined);
  });

  it('treats a unit its runner could not run (no exit code, an error) as lost, not failed', () => {
    const id = p.build([['test/a.test.js']]);
    const [a] = assignAll(id);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: null, error: 'checkout failed' }));
    expect(p.store.units.get(a)).to.include({ result: 'exception', error: 'runner r1: checkout failed' });
    expect(units(id).find((u) => u.retryOf === a)).to.include({ state: 'queued', avoidRunnerId: r1.runnerId });
  });

  it('stores a cancel: a cancelled unit ends cancelled whatever its runner reports', () => {
    const id = p.build([['test/a.test.js'], ['test/b.test.js'], ['test/c.test.js']]);
    const a = units(id)[0].id;
    const lifecycle = new BuildLifecycle(p.store, p.cfg, p.tree, p.events, pino({ level: 'silent' }),
      { sendToRunner: (runnerId, m) => { (runnerId === r1.runnerId ? r1 : r2).send(m); return true; } });
    lifecycle.assign(a, r1.runnerId);
    expect(lifecycle.cancelBuild(id)).to.equal(true);
    expect(units(id).filter((u) => u.id !== a).map((u) => u.result), 'queued units at once').to.deep.equal(['cancelled', 'cancelled']);
    expect(p.store.units.get(a)).to.include({ state: 'running', cancelRequested: 1 });
    expect(r1.sent).to.deep.equal([{ type: 'cancel', unit: a, reason: 'build cancelled' }]);
    expect(build(id)).to.include({ state: 'running', unitsDone: 2 });
    lifecycle.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: 0 }));
    expect(p.store.units.get(a)).to.include({ state: 'done', result: 'cancelled' });
    expect(build(id)).to.include({ state: 'done', result: 'cancelled' });
    expect(lifecycle.cancelBuild(id), 'an ended build').to.equal(false);
  });

  it('keeps a stored cancel across a restart: the claim resends it, and an orphan ends cancelled', () => {
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    const [a, b] = assignAll(id);
    p.lifecycle.cancelBuild(id);
    // A new process on the same database.
    const sent: unknown[] = [];
    const restarted = new BuildLifecycle(p.store, p.cfg, p.tree, p.events, pino({ level: 'silent' }),
      { sendToRunner: (_runner, m) => { sent.push(m); return true; } });
    const now = Date.now();
    restarted.recover(now);
    restarted.claimed(p.store.units.get(a)!);
    expect(sent).to.deep.equal([{ type: 'cancel', unit: a, reason: 'build cancelled' }]);
    restarted.sweepOrphans(now + 60_000);
    expect(p.store.units.get(b)).to.include({ state: 'done', result: 'cancelled' });
    expect(p.store.units.get(a)!.state, 'claimed: not an orphan').to.equal('running');
    restarted.unitFinished(r1.runnerId, 'r1', finished(a, { exitCode: 1 }));
    expect(build(id)).to.include({ state: 'done', result: 'cancelled' });
  });

  it('recovers at start-up: a build whose units all ended is finished and its tree closed, idempotently', () => {
    const id = p.build([['test/a.test.js']]);
    const [a] = assignAll(id);
    // What a crash between the unit's end and the build's result leaves: the unit ended, the build not.
    p.store.tx(() => {
      p.store.units.finish(a, { result: 'failed', exitCode: 1, signal: null, error: null, at: Date.now() });
    });
    const treeEvents: unknown[] = [];
    p.events.on('tree', (t) => treeEvents.push(t));
    const restarted = new BuildLifecycle(p.store, p.cfg, p.tree, p.events, pino({ level: 'silent' }));
    restarted.recover();
    expect(build(id)).to.include({ state: 'done', result: 'failed', unitsDone: 1 });
    expect(treeState()).to.include({ state: 'closed', buildId: id });
    expect(treeEvents).to.deep.equal([{ repo: 'shop', branch: 'main' }]);
    restarted.recover();
    restarted.reapplyTree();
    expect(treeEvents, 'applying the rule again changes nothing').to.have.length(1);
  });

  it('cancels a queued unit of an ended build instead of assigning it', () => {
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    const [a, b] = units(id).map((u) => u.id);
    p.lifecycle.assign(a, r1.runnerId);
    p.store.tx(() => p.store.builds.finish(id, 'exception', 'test', Date.now()));
    p.lifecycle.endUnassignable(p.store.units.get(b)!, build(id));
    expect(p.store.units.get(b)).to.include({ state: 'done', result: 'cancelled' });
    expect(p.store.units.get(b)!.error).to.contain('already ended (exception)');
  });
});

describe("results/lifecycle: a pipeline file's builder, stored with its build", () => {
  it('is the builder a build runs, with only the secrets and env names greengate.yml grants now', () => {
    const grants = { unit: { secrets: { TOKEN: { env: 'SERVER_TOKEN' } }, env: ['NPM_CONFIG_CACHE'] } };
    const cfg = config({ builders: [], pipeline: '.greengate.yml', pipelineGrants: grants });
    const p = pipeline(cfg);
    try {
      const spec = builder({ run: 'echo from the file', secrets: { TOKEN: { env: 'SERVER_TOKEN' } }, env: ['NPM_CONFIG_CACHE'] });
      const now = Date.now();
      const id = p.store.tx(() => p.lifecycle.create({ repoId: p.repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
        sha: SHA_A, baseSha: null, changeId: null, pushedAt: now, at: now, blamelist: [], builderSpec: JSON.stringify(spec) }, [{ files: [], expectedMs: 1 }]));
      const row = p.store.builds.get(id)!;
      expect(p.lifecycle.builderOf(row)).to.deep.include({ run: 'echo from the file', secrets: { TOKEN: { env: 'SERVER_TOKEN' } }, env: ['NPM_CONFIG_CACHE'] });
      (cfg.repositories[0] as { pipelineGrants?: unknown }).pipelineGrants = { unit: { secrets: { TOKEN: { env: 'ANOTHER' } } } }; // as a reload would
      expect(p.lifecycle.builderOf(row)).to.deep.include({ run: 'echo from the file', secrets: {}, env: [] });
    } finally {
      p.close();
    }
  });
});
