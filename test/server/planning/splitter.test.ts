import { expect } from 'chai';
import { Repo, tempHome } from '../../helpers.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SLOTS_FOR_PLANNING, RECENT_RUNNER_MS, splitEqually } from '../../../server/planning/splitter.js';
import { teachFactor } from '../../../server/planning/contention.js';
import { builder, config, pipeline, type Pipeline } from '../memory.js';

describe('planning/splitter: test files into units', () => {
  let p: Pipeline;
  afterEach(() => p.close());

  const files = (id: number) => p.store.units.byBuild(id).map((u) => JSON.parse(u.files) as string[]);

  it('finds the test files at the commit with git (globs and exclude, no checkout) and plans them for the slots', async () => {
    const home = tempHome('gg-split-');
    try {
      const repo = new Repo(home.dir);
      const sha = repo.commit({ 'test/a.test.js': '', 'test/b.test.js': '', 'test/c.test.js': '', 'test/fixtures/d.test.js': '',
        'lib/e.test.js': '', 'src/x.js': '' }, 'tests');
      expect(repo.push().ok).to.equal(true);
      const b = builder({ tests: ['test/**/*.test.js', 'lib/*.test.js'], exclude: ['test/fixtures/**'] });
      p = pipeline(config({ path: repo.bare, builders: [b] }));
      const row = p.store.repos.byName('shop')!;
      const plan = await p.splitter.planFor(p.cfg.repositories[0], row, b, sha);
      expect(plan.flatMap((u) => u.files).sort()).to.deep.equal(['lib/e.test.js', 'test/a.test.js', 'test/b.test.js', 'test/c.test.js']);
      expect(plan, `no runner seen: planned for ${DEFAULT_SLOTS_FOR_PLANNING} slots`).to.have.length(4);
      const none = await p.splitter.planFor(p.cfg.repositories[0], row, builder({ tests: null }), sha);
      expect(none).to.deep.equal([{ files: [], expectedMs: 0 }]);
    } finally {
      home.cleanup();
    }
  });

  it('plans a builder\'s first build cold: a few units per slot, the biggest file at the commit first, other builders\' times used (issue 24)', async () => {
    const home = tempHome('gg-split-');
    try {
      const repo = new Repo(home.dir);
      const tree: Record<string, string> = {};
      for (let i = 0; i < 60; i++) tree[`test/t${String(i).padStart(2, '0')}.test.js`] = 'x'.repeat(200 + (i % 7) * 50);
      tree['test/t42.test.js'] = 'x'.repeat(40_000);
      const sha = repo.commit(tree, 'sixty test files');
      expect(repo.push().ok).to.equal(true);
      const b = builder({ tests: ['test/*.test.js'] });
      p = pipeline(config({ path: repo.bare, builders: [b] }));
      const row = p.store.repos.byName('shop')!;
      const cold = await p.splitter.planFor(p.cfg.repositories[0], row, b, sha);
      expect(cold.length, `${DEFAULT_SLOTS_FOR_PLANNING} slots: ${cold.map((u) => u.files.length)}`).to.be.within(DEFAULT_SLOTS_FOR_PLANNING, 3 * DEFAULT_SLOTS_FOR_PLANNING);
      expect(cold[0].files[0]).to.equal('test/t42.test.js');
      // Another builder of the repository (same files) learned that t07 is the long one: the cold plan believes it.
      for (const f of Object.keys(tree)) p.store.tests.saveFileDuration(p.repoId, 'integration', f, f === 'test/t07.test.js' ? 60_000 : 100, Date.now());
      const told = await p.splitter.planFor(p.cfg.repositories[0], row, b, sha);
      expect(told[0].files).to.deep.equal(['test/t07.test.js']);
    } finally {
      home.cleanup();
    }
  });

  it('plans a cold build from ONE git process (names and sizes from one ls-tree -l), a warm one from one ls-tree of names (issue 24: push → first assign)', async () => {
    const home = tempHome('gg-split-');
    // Every git the server starts, counted by a PATH entry that writes its arguments and runs the real git.
    const real = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    const bin = join(home.dir, 'counting-git-bin');
    const calls = join(home.dir, 'git-calls');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
    const path = process.env.PATH;
    const started = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').length : 0);
    try {
      const repo = new Repo(home.dir);
      const tree: Record<string, string> = { 'README.md': 'r', 'test/sub/deep.test.js': 'x'.repeat(300) };
      for (let i = 0; i < 30; i++) tree[`test/t${String(i).padStart(2, '0')}.test.js`] = 'x'.repeat(100 + i);
      tree['test/t17.test.js'] = 'x'.repeat(30_000);
      const sha = repo.commit(tree, 'thirty test files');
      expect(repo.push().ok).to.equal(true);
      const b = builder({ tests: ['test/**/*.test.js'], exclude: ['test/sub/**'] });
      p = pipeline(config({ path: repo.bare, builders: [b] }));
      const row = p.store.repos.byName('shop')!;
      process.env.PATH = `${bin}:${path}`;
      const cold = await p.splitter.planFor(p.cfg.repositories[0], row, b, sha);
      expect(started(), 'git processes for a cold plan').to.equal(1);
      expect(cold.flatMap((u) => u.files).sort()).to.deep.equal(Object.keys(tree).filter((f) => /^test\/t\d+/.test(f)).sort());
      expect(cold[0].files[0], 'the biggest file first: its size was read').to.equal('test/t17.test.js');
      for (const f of Object.keys(tree)) p.store.tests.saveFileDuration(p.repoId, b.name, f, 100, Date.now());
      const warm = await p.splitter.planFor(p.cfg.repositories[0], row, b, sha);
      expect(started(), 'and one more for a warm plan').to.equal(2);
      expect(warm.flatMap((u) => u.files)).to.have.length(30);
    } finally {
      process.env.PATH = path;
      home.cleanup();
    }
  });

  it('splits by learned durations: a long file runs alone, short ones are batched', () => {
    p = pipeline();
    const row = p.store.repos.byName('shop')!;
    const now = Date.now();
    p.store.tests.saveFileDuration(p.repoId, 'unit', 'long.js', 8000, now);
    for (const f of ['s1.js', 's2.js', 's3.js', 's4.js']) p.store.tests.saveFileDuration(p.repoId, 'unit', f, 100, now);
    const plan = p.splitter.split(row, builder(), ['s1.js', 'long.js', 's2.js', 's3.js', 's4.js'], 2);
    expect(plan[0].files).to.deep.equal(['long.js']);
    expect(plan.length).to.be.lessThan(5);
    expect(plan.flatMap((u) => u.files).sort()).to.deep.equal(['long.js', 's1.js', 's2.js', 's3.js', 's4.js']);
  });

  it('splits equally by count for split: static', () => {
    const plan = splitEqually(['a', 'b', 'c', 'd', 'e'], new Map([['a', 100]]), 2);
    expect(plan.map((u) => u.files)).to.deep.equal([['a', 'b', 'c'], ['d', 'e']]);
    expect(plan[0].expectedMs).to.be.greaterThan(plan[1].expectedMs);
    expect(splitEqually(['a'], new Map(), 8)).to.have.length(1);
  });

  it('plans with the contention learned for the builder: a runner whose 4 slots run 2× slower gets 2 balanced units', () => {
    p = pipeline();
    const row = p.store.repos.byName('shop')!;
    const now = Date.now();
    const suite = Array.from({ length: 24 }, (_, i) => `test/f${i}.test.js`);
    suite.forEach((f, i) => p.store.tests.saveFileDuration(p.repoId, 'unit', f, 400 + 50 * (i % 7), now));
    p.store.costs.save(p.repoId, 'unit', { overheadMs: 300, samples: 10 }, now);
    const before = p.splitter.split(row, builder(), suite, [4]);
    expect(before.length, 'nothing learned: at least one unit per slot').to.be.at.least(4);
    // Units at 4 at once took twice what they take alone, at 2 at once as long as alone.
    for (let i = 0; i < 3; i += 1) {
      teachFactor(p.store.contention, p.repoId, 'unit', 4, { runMs: 2000, soloMs: 1000 }, now);
      teachFactor(p.store.contention, p.repoId, 'unit', 2, { runMs: 1000, soloMs: 1000 }, now);
    }
    const after = p.splitter.split(row, builder(), suite, [4]);
    expect(after).to.have.length(2);
    expect(after.flatMap((u) => u.files).sort()).to.deep.equal([...suite].sort());
    expect(after[1]!.expectedMs / after[0]!.expectedMs, 'balanced').to.be.at.least(0.95);
    expect(p.splitter.split(row, builder(), suite, [4, 4]), 'two such runners: 2 units each').to.have.length(4);
    expect(p.splitter.split(row, builder({ name: 'lint' }), suite, [4]).length, 'per builder').to.be.at.least(4);
  });

  it('counts each runner\'s slots for the contention, the connected runners first', () => {
    p = pipeline();
    const now = Date.now();
    expect(p.splitter.runnerSlots(now)).to.deep.equal([DEFAULT_SLOTS_FOR_PLANNING]);
    const r1 = p.runner('r1', 3);
    p.store.runners.markDisconnected(r1.runnerId, now);
    const r2 = p.runner('r2', 2);
    p.store.runners.markDisconnected(r2.runnerId, now);
    expect([...p.splitter.runnerSlots(now)].sort()).to.deep.equal([2, 3]);
    p.registry.join(p.runner('r3', 6), []);
    expect(p.splitter.runnerSlots(now)).to.deep.equal([6]);
  });

  it('counts the connected slots, else those of runners seen within the hour, else the default', () => {
    p = pipeline();
    const now = Date.now();
    expect(p.splitter.countSlots(now)).to.equal(DEFAULT_SLOTS_FOR_PLANNING);
    const r1 = p.runner('r1', 3);
    p.store.runners.markDisconnected(r1.runnerId, now);
    expect(p.splitter.countSlots(now), 'seen just now').to.equal(3);
    expect(p.splitter.countSlots(now + RECENT_RUNNER_MS + 1), 'seen too long ago').to.equal(DEFAULT_SLOTS_FOR_PLANNING);
    p.registry.join(p.runner('r2', 6), []);
    expect(p.splitter.countSlots(now)).to.equal(6);
  });

  it('splits again only the queued builds none of whose units was handed out', () => {
    p = pipeline(config({ builders: [builder({ split: 'static' })] }));
    const all = ['test/a.js', 'test/b.js', 'test/c.js', 'test/d.js'];
    const untouched = p.build([all]);
    const started = p.build([all.slice(0, 2), all.slice(2)], { sha: 'b'.repeat(40) });
    const r1 = p.runner('r1', 1);
    p.lifecycle.assign(p.store.units.byBuild(started)[0].id, r1.runnerId);
    const announced: number[] = [];
    p.events.on('build', (b) => announced.push(b.id));

    p.registry.onChange = () => undefined; // the pipeline's re-split on a join is asked for by hand below
    p.registry.join(p.runner('big', 4), []); // 4 slots connected
    expect(p.splitter.replanQueued()).to.deep.equal([untouched]);
    expect(files(untouched)).to.deep.equal([['test/a.js'], ['test/b.js'], ['test/c.js'], ['test/d.js']]);
    expect(p.store.builds.get(untouched)).to.include({ unitsTotal: 4, unitsDone: 0 });
    expect(files(started), 'a build with a running unit keeps its units').to.deep.equal([all.slice(0, 2), all.slice(2)]);
    expect(announced).to.include(untouched);
    expect(p.splitter.replanQueued(), 'the same split again changes nothing').to.deep.equal([]);
  });

  it('does not split again a queued build that holds a retry', () => {
    p = pipeline(config({ builders: [builder({ split: 'static' })] }));
    const id = p.build([['test/a.js', 'test/b.js']]);
    const [u] = p.store.units.byBuild(id);
    p.store.tx(() => p.store.units.create({ buildId: id, seq: 1, files: ['test/a.js'], attempt: 2, retryOf: u.id, priority: 50,
      expectedMs: 10, avoidRunnerId: null, lostCount: 0, at: Date.now() }));
    p.registry.join(p.runner('big', 4), []);
    expect(p.splitter.replanQueued()).to.deep.equal([]);
  });
});
