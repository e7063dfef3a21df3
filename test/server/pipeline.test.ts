import { expect } from 'chai';
import { parseConfig } from '../../server/config/config.js';
import type { Config } from '../../server/config/config.js';
import { finished, pipeline, type Pipeline, type FakeLink } from './memory.js';

/**
 * server/pipeline.ts, on the in-memory store (test/server/memory.ts calls the same createPipeline
 * as server/main.ts): the writer lists run in their declared order inside the build's transaction,
 * and observers hear of a change only after its commit.
 */
describe('pipeline: one composition root, ordered writers, events after the commit', () => {
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);
  let p: Pipeline;
  let r1: FakeLink;
  let cfg: Config;

  beforeEach(() => {
    cfg = parseConfig(`runnerToken: abcdefgh\nbaseUrl: http://ci.test\nnotify:\n  webhooks: [{ url: "https://hooks.example.com/" }]\n` +
      `repositories:\n  - name: shop\n    path: /srv/shop.git\n    gate: [main]\n    builders: [{ name: unit, run: "true" }]\n`,
    { baseDir: '/tmp', env: {} });
    p = pipeline(cfg);
    r1 = p.runner('r1', 4);
  });
  afterEach(() => p.close());

  /** A branch build of `sha` on main (its own push) with this blamelist, run to its end on r1. */
  function run(sha: string, base: string | null, blamelist: string[], exitCode: number): number {
    const now = Date.now();
    const changeId = p.store.repos.recordChange({ repoId: p.repoId, ref: 'refs/heads/main', branch: 'main', kind: 'branch', oldSha: base,
      newSha: sha, source: 'api', pusher: null, at: now });
    const id = p.store.tx(() => p.lifecycle.create({ repoId: p.repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
      sha, baseSha: base, changeId, pushedAt: now, at: now, blamelist }, [{ files: [], expectedMs: 100 }]));
    p.lifecycle.announce(id);
    for (let attempt = 0; attempt < 3 && p.store.builds.get(id)!.state !== 'done'; attempt++) { // a failure is retried once
      const unit = p.store.units.byBuild(id).find((u) => u.state === 'queued')!;
      expect(p.lifecycle.assign(unit.id, r1.runnerId)).to.equal(true);
      expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(unit.id, { exitCode }))).to.equal(true);
    }
    return id;
  }
  const stored = (kind: string) => p.store.notifications.due(Date.now() + 1000, 100).filter((d) => d.kind === kind)
    .map((d) => JSON.parse(d.payload) as Record<string, any>);

  it('culprit finding writes before the tree rule: a one-commit red build\'s closure names its commit', () => {
    run(A, null, [A], 0);
    const red = run(B, A, [B], 1);
    expect(p.store.builds.get(red)).to.include({ state: 'done', result: 'failed' });
    const [closed] = stored('tree.closed');
    expect(closed.build.id).to.equal(red);
    expect(closed.culprit).to.deep.equal({ sha: B, confirmed: false, builds: [] });
    expect(p.tree.status('shop', 'main')).to.include({ state: 'closed', closedBy: 'build' });
    expect(p.tree.status('shop', 'main').culprit).to.include({ sha: B, confirmed: false, state: 'done' });
  });

  it('tells observers only after the commit: no event is emitted inside a transaction (a build\'s end, the immune system\'s closure)', () => {
    const inside: string[] = [];
    for (const name of ['tree', 'build', 'unit', 'buildFinished', 'log'] as const) {
      p.events.on(name, () => { if (p.store.inTx()) inside.push(name); });
    }
    let trees = 0;
    p.events.on('tree', () => { trees++; });
    run(A, null, [A], 0);
    run(B, A, [B], 1);
    expect(trees, 'the closure was told').to.equal(1);
    p.store.tx(() => {
      p.tree.closeForRollback('shop', 'main', 'deploy 1 rolled back', 'deploy 1 regressed at stage canary', [B]);
      expect(trees, 'not while its transaction is open').to.equal(1);
    });
    expect(trees).to.equal(2);
    expect(inside).to.deep.equal([]);
    expect(p.tree.status('shop', 'main')).to.include({ closedBy: 'immune' });
  });

  it('a rolled back build end tells nobody and leaves no notification', () => {
    run(A, null, [A], 0);
    const told: string[] = [];
    p.events.on('tree', () => told.push('tree'));
    p.events.on('buildFinished', () => told.push('buildFinished'));
    expect(() => p.store.tx(() => {
      run(B, A, [B], 1); // nested: its transactions are savepoints of this one
      throw new Error('the disk is full');
    })).to.throw('the disk is full');
    expect(told).to.deep.equal([]);
    expect(stored('tree.closed')).to.deep.equal([]);
    expect(p.store.tree.get(p.repoId, 'main')).to.equal(undefined);
  });
});
