import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { ADMIN_TOKEN, Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';

const testFile = (name: string) => `require('node:test').test('${name}', () => {});\n`;

/** build → sharded test → package (once per FLAVOUR), real commands, real runner, real push. */
const CI = {
  name: 'ci',
  steps: [
    { name: 'build', run: 'mkdir -p dist && node -e "require(\'fs\').writeFileSync(\'dist/app.js\', \'ok\')" && test -f dist/app.js && echo built' },
    { name: 'test', run: 'node --test "$@"', tests: 'test/*.test.js', unitTargetSeconds: 0.1 },
    { name: 'package', run: 'test -n "$FLAVOUR" && tar czf "shop-$FLAVOUR.tgz" src && echo "packed $FLAVOUR"', matrix: { FLAVOUR: ['lite', 'full'] } },
  ],
} as unknown as BuilderSpec;

/** A first step long enough to restart the server under it. */
const SLOW = { name: 'slow', steps: [{ name: 'first', run: 'sleep 2 && echo first' }, { name: 'second', run: 'echo second' }] } as unknown as BuilderSpec;

describe('steps: a three-step builder over a real server, runner and git push', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let slow: Repo;
  let retry: Repo;
  let server: ServerProcess;
  let runner: ChildProcess;
  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    slow = new Repo(home.dir, 'slow');
    retry = new Repo(home.dir, 'retry');
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [CI] },
      { name: 'slow', path: slow.bare, gate: [], builders: [SLOW] }, { name: 'retry', path: retry.bare, gate: [], builders: [CI] }])).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 2 });
  });
  after(async () => {
    await stopChild(runner);
    await server.kill();
    home.cleanup();
  });

  async function pushAndWait(files: Record<string, string>, message: string): Promise<any> {
    const sha = repo.commit(files, message);
    expect(repo.push().ok).to.equal(true);
    const b = await pollUntil(async () => (await server.builds('repo=shop&branch=main&limit=1')).find((x) => x.sha === sha), 'the build of the push');
    return server.waitForBuild(b.id);
  }

  it('runs build, then the test shards, then each package combination; the API lists the steps and each unit\'s step (read without credentials)', async () => {
    const build = await pushAndWait({ 'src/app.js': 'module.exports = 1;\n', 'test/a.test.js': testFile('a'), 'test/b.test.js': testFile('b') }, 'first');
    expect(build, JSON.stringify(build.steps)).to.include({ result: 'passed' });
    expect(build.steps.map((s: any) => [s.name, s.result, s.needs])).to.deep.equal([
      ['build', 'passed', []], ['test', 'passed', ['build']],
      ['package (FLAVOUR=lite)', 'passed', ['test']], ['package (FLAVOUR=full)', 'passed', ['test']]]);
    expect(build.steps[2].matrix).to.deep.equal({ FLAVOUR: 'lite' });
    expect(build.steps[0]).not.to.have.property('matrix');
    const at = (name: string) => build.steps.find((s: any) => s.name === name);
    expect(at('test').startedAt).to.be.at.least(at('build').finishedAt);
    expect(at('package (FLAVOUR=full)').startedAt).to.be.at.least(at('test').finishedAt);
    const units = build.units as any[];
    expect(new Set(units.map((u) => u.step))).to.deep.equal(new Set(['build', 'test', 'package (FLAVOUR=lite)', 'package (FLAVOUR=full)']));
    expect(units.filter((u) => u.step === 'test').flatMap((u) => u.files).sort()).to.deep.equal(['test/a.test.js', 'test/b.test.js']);
    const log = await server.api(`/api/units/${units.find((u) => u.step === 'package (FLAVOUR=full)').id}/log`);
    expect(log).to.contain('packed full');
  });

  it('skips the steps after a failing first step, fails the build and closes the tree', async () => {
    const build = await pushAndWait({ 'dist': 'a file where the build wants a folder\n' }, 'break the build');
    expect(build.result).to.equal('failed');
    expect(build.steps.map((s: any) => `${s.name}:${s.result}`)).to.deep.equal(
      ['build:failed', 'test:skipped', 'package (FLAVOUR=lite):skipped', 'package (FLAVOUR=full):skipped']);
    expect(build.units.every((u: any) => u.step === 'build')).to.equal(true);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('closed');
  });

  it('re-run failed runs the failed step\'s failed shard, the steps it needs and the ones it left skipped, not the shards that passed', async () => {
    const sha = retry.commit({ 'src/app.js': '1\n', 'test/a.test.js': testFile('a'),
      'test/b.test.js': "require('node:test').test('b', () => { if (!process.env.FIXED) throw new Error('red'); });\n" }, 'b fails');
    expect(retry.push().ok).to.equal(true);
    const b = await pollUntil(async () => (await server.builds('repo=retry&limit=1')).find((x) => x.sha === sha), 'the retry build');
    const red = await server.waitForBuild(b.id);
    expect(red.steps.map((s: any) => `${s.name}:${s.result}`)).to.deep.equal(
      ['build:passed', 'test:failed', 'package (FLAVOUR=lite):skipped', 'package (FLAVOUR=full):skipped']);
    const res = await fetch(`${server.url}/api/builds/${red.id}/rerun-failed`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).to.equal(202);
    const again = await server.waitForBuild((await res.json()).build);
    expect(again.cause).to.deep.include({ kind: 'rerun', rebuildOf: red.id });
    expect(again.steps.map((s: any) => s.name)).to.deep.equal(['build', 'test', 'package (FLAVOUR=lite)', 'package (FLAVOUR=full)']);
    expect(again.units.filter((u: any) => u.step === 'test' && u.attempt === 1).flatMap((u: any) => u.files)).to.deep.equal(['test/b.test.js']);
    expect(again.steps.find((s: any) => s.name === 'test').result).to.equal('failed'); // still red: b fails without FIXED
  });

  it('carries on after a server restart in the middle of a step: the next step starts from what SQLite holds', async () => {
    const sha = slow.commit({ 'a.txt': 'a' }, 'slow');
    expect(slow.push().ok).to.equal(true);
    const b = await pollUntil(async () => (await server.builds('repo=slow&limit=1')).find((x) => x.sha === sha), 'the slow build');
    await pollUntil(async () => ((await server.build(b.id)).units[0]?.startedAt ? true : null), 'the first step to start');
    await server.kill('SIGKILL');
    await server.start();
    const done = await server.waitForBuild(b.id);
    expect(done.result, done.reason).to.equal('passed');
    expect(done.steps.map((s: any) => `${s.name}:${s.result}`)).to.deep.equal(['first:passed', 'second:passed']);
    expect(done.units.filter((u: any) => u.step === 'first' && u.result === 'passed')).to.have.length(1);
  });
});
