import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';
import { openStore } from '../../server/store/index.js';

describe('core pipeline (real server, runners, git)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  const runners: ChildProcess[] = [];

  async function start(run: string, extra: Record<string, unknown> = {}): Promise<void> {
    home = tempHome();
    repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run, timeout: 60, ...extra }] }]);
    server = await new ServerProcess(config).start();
  }

  async function runner(name: string, slots = 1): Promise<ChildProcess> {
    const r = startRunner(server.url, name, home.dir, { slots });
    runners.push(r);
    await pollUntil(async () => (await server.api('/healthz')).runners >= runners.filter((x) => x.exitCode === null).length, `runner ${name} to connect`);
    return r;
  }

  async function latestBuild(after = 0): Promise<any> {
    return pollUntil(async () => (await server.builds('repo=shop')).find((b) => b.id > after), 'a build to be created');
  }

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => stopChild(r)));
    await server?.kill();
    home?.cleanup();
  });

  it('builds a passing push as passed and a failing push as failed with its output in the log', async () => {
    await start('sh ./check.sh');
    await runner('r1');
    repo.commit({ 'check.sh': 'echo all good\nexit 0\n' }, 'passing commit');
    expect(repo.push().ok).to.equal(true);
    const first = await server.waitForBuild((await latestBuild()).id);
    expect(first.result).to.equal('passed');
    expect(first.blamelist.map((c: any) => c.subject)).to.deep.equal(['passing commit']);
    expect(first.units).to.have.length(1);
    expect(first.units[0].runner).to.equal('r1');

    repo.commit({ 'check.sh': 'echo "expected 2, got 3" >&2\nexit 1\n' }, 'breaking commit');
    repo.push();
    const second = await server.waitForBuild((await latestBuild(first.id)).id);
    expect(second.result).to.equal('failed');
    expect(second.units.at(-1).exitCode).to.equal(1);
    const log = await server.api(`/api/builds/${second.id}/log`);
    expect(log).to.contain('expected 2, got 3');
    expect(second.blamelist.map((c: any) => c.subject)).to.deep.equal(['breaking commit']);
  });

  it('joins a second push into the queued build: one build, both commits in its blamelist', async () => {
    await start('true');
    const a = repo.commit({ 'a.txt': 'a' }, 'first');
    repo.push();
    const queued = await latestBuild();
    expect(queued.state).to.equal('queued');
    const b = repo.commit({ 'b.txt': 'b' }, 'second');
    repo.push();
    await pollUntil(async () => (await server.build(queued.id)).sha === b, 'the queued build to take the second push');
    await runner('r1');
    const done = await server.waitForBuild(queued.id);
    expect(done.result).to.equal('passed');
    expect(done.blamelist.map((c: any) => c.sha)).to.deep.equal([b, a]);
    expect(await server.builds('repo=shop')).to.have.length(1);
  });

  it('runs a killed runner\'s unit on the other runner and completes the build', async () => {
    // A latch, not a sleep: on r1 the unit holds (up to 60 s) until r1 is killed; on r2 it finishes at once.
    await start('if [ "$GREENGATE_RUNNER" = r1 ]; then echo working; i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; fi; echo finished');
    const r1 = await runner('r1');
    repo.commit({ 'x.txt': 'x' }, 'slow commit');
    repo.push();
    const build = await latestBuild();
    await pollUntil(async () => (await server.build(build.id)).units.some((u: any) => u.runner === 'r1' && u.state === 'running'), 'r1 to take the unit');
    await runner('r2');
    await stopChild(r1, 'SIGKILL');
    const done = await server.waitForBuild(build.id);
    expect(done.result).to.equal('passed');
    expect(done.units.map((u: any) => [u.runner, u.result])).to.deep.equal([['r1', 'exception'], ['r2', 'passed']]);
    expect(done.units[1].retryOf).to.equal(done.units[0].id);
  });

  it('survives kill -9 of the server mid-build: the build completes with a complete log', async () => {
    await start('i=1; while [ $i -le 300 ]; do echo "line $i"; i=$((i+1)); sleep 0.01; done');
    await runner('r1');
    repo.commit({ 'y.txt': 'y' }, 'long log');
    repo.push();
    const build = await latestBuild();
    await pollUntil(async () => (await server.build(build.id)).units[0]?.logBytes > 200, 'some log to arrive');
    await server.kill('SIGKILL');
    await server.start();
    const done = await server.waitForBuild(build.id, 40_000);
    expect(done.result).to.equal('passed');
    const log: string = await server.api(`/api/builds/${build.id}/log`);
    const lines = log.split('\n').filter((l) => l.startsWith('line '));
    expect(lines).to.deep.equal(Array.from({ length: 300 }, (_, i) => `line ${i + 1}`));
  });

  it('never hands a runner a queued unit of a build that has already ended', async () => {
    await start('true');
    await runner('r1');
    // a finished build whose unit is still queued: only a write from outside (or a bug) leaves one
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    let stale: number;
    let staleBuild: number;
    try {
      const repoId = store.repos.byName('shop')!.id;
      const build = staleBuild = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/old', branch: 'old', kind: 'branch',
        sha: 'e'.repeat(40), baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
      stale = store.units.create({ buildId: build, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
        avoidRunnerId: null, lostCount: 0, at: 1 });
      store.builds.finish(build, 'passed', null, 2);
    } finally {
      store.close();
    }
    repo.commit({ 'z.txt': 'z' }, 'a real push');
    repo.push();
    const real = await server.waitForBuild((await latestBuild(staleBuild!)).id);
    expect(real.result).to.equal('passed');
    const units = (await server.build(staleBuild!)).units;
    expect(units.map((u: any) => [u.id, u.state, u.result, u.runner])).to.deep.equal([[stale!, 'done', 'cancelled', null]]);
  });
});
