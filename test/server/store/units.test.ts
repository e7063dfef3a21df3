import { expect } from 'chai';
import { shopStore, SHA_A } from '../memory.js';
import { INSERT_CHUNK, QUEUE_PEEK } from '../../../server/store/units.js';

describe('store/units: the head of the queue', () => {
  it('peek lists the queued units\' ids only (highest priority, oldest build, longest first, at most QUEUE_PEEK), read by the index alone', () => {
    const { store, repoId } = shopStore();
    try {
      const build = (sha: string) => store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha,
        baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
      const older = build(SHA_A);
      const newer = build('b'.repeat(40));
      const unit = (buildId: number, seq: number, expectedMs: number, priority = 0) => store.units.create({ buildId, seq, files: [`f${seq}`],
        attempt: 1, retryOf: null, priority, expectedMs, avoidRunnerId: null, lostCount: 0, at: 1 });
      const many = Array.from({ length: QUEUE_PEEK + 8 }, (_, i) => unit(newer, i + 10, 1));
      const short = unit(older, 1, 5);
      const long = unit(older, 2, 50);
      const urgent = unit(newer, 3, 1, 1);
      const taken = unit(older, 4, 500);
      const runner = store.runners.register({ name: 'r1', slots: 1, version: 'test', address: null, at: 1, labels: {} });
      expect(store.units.assign(taken, runner, 2)).to.equal(true);
      const head = store.units.peek();
      expect(head).to.have.length(QUEUE_PEEK);
      expect(head.slice(0, 5)).to.deep.equal([urgent, long, short, many[0], many[1]]);
      expect(head).not.to.include(taken);
      // Only ids: the rows (26 columns and the runner's name each) are read one by one as a dispatch needs them.
      expect(head.every((id) => typeof id === 'number')).to.equal(true);
      const plan = store.db.prepare(`EXPLAIN QUERY PLAN SELECT u.id FROM units u WHERE u.state = 'queued'
        ORDER BY u.priority DESC, u.build_id, u.expected_ms DESC, u.id LIMIT ${QUEUE_PEEK}`).all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join('; ')).to.match(/COVERING INDEX units_queue/).and.not.match(/TEMP B-TREE/);
    } finally {
      store.close();
    }
  });
});

describe('store/units: a new build\'s units written at once', () => {
  it('createMany stores the same rows as create one by one, in order, over more than one INSERT', () => {
    const { store, repoId } = shopStore();
    try {
      const build = (sha: string) => store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha,
        baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
      const one = build(SHA_A);
      const many = build('b'.repeat(40));
      const n = INSERT_CHUNK * 2 + 3;
      const unit = (buildId: number, i: number) => ({ buildId, seq: i + 1, files: [`t/${i}.test.js`, `t/${i}b.test.js`], attempt: 1, retryOf: null,
        priority: i % 3, expectedMs: 10 * i, avoidRunnerId: null, lostCount: 0, at: 5, step: i % 2 ? 'lint' : null });
      store.tx(() => { for (let i = 0; i < n; i++) store.units.create(unit(one, i)); });
      store.tx(() => store.units.createMany(Array.from({ length: n }, (_, i) => unit(many, i))));
      const strip = (rows: ReturnType<typeof store.units.byBuild>) => rows.map(({ id: _id, buildId: _b, ...rest }) => rest);
      const a = store.units.byBuild(one);
      const b = store.units.byBuild(many);
      expect(b).to.have.length(n);
      expect(strip(b)).to.deep.equal(strip(a));
      expect(b.map((u) => u.id)).to.deep.equal([...b.map((u) => u.id)].sort((x, y) => x - y));
      store.units.createMany([]);
      expect(store.units.byBuild(many)).to.have.length(n);
    } finally {
      store.close();
    }
  });
});
