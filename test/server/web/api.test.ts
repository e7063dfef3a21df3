import { expect } from 'chai';
import { startShopServer } from '../shopServer.js';
import type { RunningServer } from '../../../server/main.js';
import { Repo, tempHome } from '../../helpers.js';
import { teachFactor } from '../../../server/planning/contention.js';

describe('web/api: a build shows the runners whose slots only contend', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;
  before(async () => {
    home = tempHome();
    server = await startShopServer(home.dir, new Repo(home.dir));
  });
  after(async () => {
    await server.close();
    home.cleanup();
  });

  /** A finished build of `units` units on runner `runner`, each with this mean concurrency. */
  function finishedBuild(runner: string, concurrency: number[], cpus: number | null = null, builder = 'unit'): number {
    const { store } = server;
    const repoId = store.repos.byName('shop')!.id;
    const at = Date.now() - 10_000;
    const runnerId = store.runners.register({ name: runner, slots: 4, version: 'test', address: null, at, cpus });
    return store.tx(() => {
      const buildId = store.builds.create({ repoId, builder, ref: 'refs/heads/main', branch: 'main', kind: 'branch',
        sha: 'a'.repeat(40), baseSha: null, changeId: null, pushedAt: at, at, blamelist: [] });
      concurrency.forEach((mean, i) => {
        const id = store.units.create({ buildId, seq: i + 1, files: [`f${i}.js`], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
          avoidRunnerId: null, lostCount: 0, at });
        store.units.assign(id, runnerId, at);
        store.units.markStarted(id, at);
        store.units.finish(id, { result: 'passed', exitCode: 0, signal: null, error: null, at: at + 1000 });
        store.contention.setConcurrency(id, mean);
      });
      return buildId;
    });
  }

  it('names the runner, how much slower its units ran together and how many slots would be as fast, without credentials', async () => {
    const repoId = server.store.repos.byName('shop')!.id;
    for (let i = 0; i < 3; i += 1) {
      teachFactor(server.store.contention, repoId, 'unit', 4, { runMs: 2100, soloMs: 1000 }, Date.now());
      teachFactor(server.store.contention, repoId, 'unit', 2, { runMs: 1000, soloMs: 1000 }, Date.now());
    }
    const contended = finishedBuild('r1', [3.8, 4, 3.6, 2.2], 2);
    const calm = finishedBuild('r2', [1, 1.2]);

    const json = await (await fetch(`${server.url}/api/builds/${contended}`)).json() as { contention: string[]; units: { concurrency: number }[] };
    const line = 'r1: 4 slots ran 2.1× slower together than alone (2 CPUs) — about 2 would be as fast';
    expect(json.contention).to.deep.equal([line]);
    expect(json.units.map((u) => u.concurrency)).to.deep.equal([3.8, 4, 3.6, 2.2]);
    const page = await (await fetch(`${server.url}/builds/${contended}`)).text();
    expect(page).to.include(`class="contention"`).and.to.include(line);

    const quiet = await (await fetch(`${server.url}/api/builds/${calm}`)).json() as { contention: string[] };
    expect(quiet.contention, 'its units ran alone').to.deep.equal([]);
    expect(await (await fetch(`${server.url}/builds/${calm}`)).text()).not.to.include('class="contention"');
  });

  it('never advises the serial run when 2 slots were faster, and says more slots may help for units waiting on timers', async () => {
    const repoId = server.store.repos.byName('shop')!.id;
    for (let i = 0; i < 3; i += 1) {
      teachFactor(server.store.contention, repoId, 'pairs', 2, { runMs: 1500, soloMs: 1000 }, Date.now());
      teachFactor(server.store.contention, repoId, 'timers', 2, { runMs: 1100, soloMs: 1000 }, Date.now());
      teachFactor(server.store.contention, repoId, 'timers', 4, { runMs: 1947, soloMs: 1000 }, Date.now()); // 4 slots 13 % faster than 2
    }
    const pairs = await (await fetch(`${server.url}/api/builds/${finishedBuild('r3', [2, 2], 2, 'pairs')}`)).json() as { contention: string[] };
    expect(pairs.contention).to.deep.equal(['r3: 2 slots ran 1.5× slower together than alone (2 CPUs)']);
    const timers = await (await fetch(`${server.url}/api/builds/${finishedBuild('r4', [4, 4, 4, 4], 2, 'timers')}`)).json() as { contention: string[] };
    expect(timers.contention).to.deep.equal(['r4: 4 slots ran 1.9× slower together than alone (2 CPUs) — more slots may help: its units wait (timers, I/O) while CPUs idle']);
  });
});
