import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, WS_PATH, parseServerMessage, type ServerMessage } from '../../server/protocol.js';
import { COLD_UNITS_PER_SLOT, estimateCold, planCold } from '../../server/planning/coldPlan.js';
import { DEFAULT_SLOTS_FOR_PLANNING } from '../../server/planning/splitter.js';
import {
  ADMIN_TOKEN, RUNNER_TOKEN, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig, type BuilderSpec,
} from '../helpers.js';

/** A builder as test/helpers.ts writes it, with the split the helper does not know about. */
type Spec = BuilderSpec & { split?: 'dynamic' | 'static' };

/** A node --test file (CommonJS, so the repository needs no package.json). */
function testFile(body: string): string {
  return `const { test, describe, it } = require('node:test');\n` +
    `const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));\n${body}\n`;
}

/** Fails the first time it runs, passes after: the marker file lives outside every workspace. */
const FLAKY_TEST = testFile(`test('sometimes fails', () => {
  const fs = require('node:fs');
  if (!fs.existsSync(process.env.FLAKY_MARKER)) {
    fs.writeFileSync(process.env.FLAKY_MARKER, 'failed once');
    throw new Error('first run fails on purpose');
  }
});`);

const NODE_TEST_RUN = 'node --test --test-reporter=spec --test-reporter-destination=stdout ' +
  '--test-reporter=junit --test-reporter-destination=junit.xml "$@"';

/** The stored test results of a build as "file-less key → status" lines, sorted (a duplicate shows twice). */
function testLines(build: any): string[] {
  return build.tests.map((t: any) => `${t.classname ? `${t.classname} > ` : ''}${t.name}: ${t.status}`).sort();
}

/** The attempts a build's result stands on: units no retry or requeue replaced. */
function currentUnits(build: any): any[] {
  const replaced = new Set(build.units.map((u: any) => u.retryOf).filter((id: any) => id !== null));
  return build.units.filter((u: any) => !replaced.has(u.id));
}

/** A runner that speaks the protocol by hand: the far end, to send what a real runner sends late. */
class FakeRunner {
  readonly messages: ServerMessage[] = [];
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(parseServerMessage(data as Buffer)));
  }

  static async connect(server: string, name: string, units: { unit: number; finished: boolean }[] = []): Promise<FakeRunner> {
    const ws = new WebSocket(server.replace(/^http/, 'ws') + WS_PATH);
    const runner = new FakeRunner(ws);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    runner.send({ type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name, slots: 1, version: 'fake', units });
    await runner.waitFor((m) => m.type === 'welcome', 'welcome');
    return runner;
  }

  send(message: object): void { this.ws.send(JSON.stringify(message)); }

  waitFor<T extends ServerMessage>(match: (m: ServerMessage) => boolean, what: string): Promise<T> {
    return pollUntil(() => this.messages.find(match) as T | undefined, `the fake runner to receive ${what}`, 10_000);
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => { this.ws.once('close', () => resolve()); this.ws.close(); });
  }
}

describe('test sharding (real server, runners, git)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runners: ChildProcess[] = [];
  const fakes: FakeRunner[] = [];

  /** A server with one builder; `builder` may use the test's temporary home (outside every workspace). */
  async function start(builder: (home: string) => Partial<Spec>): Promise<void> {
    home = tempHome('gg-shard-');
    repo = new Repo(home.dir);
    const spec: Spec = { name: 'unit', tests: 'test/**/*.test.js', run: NODE_TEST_RUN, junit: 'junit.xml', timeout: 60, ...builder(home.dir) };
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [spec] }])).start();
  }

  async function runner(name: string, slots = 1): Promise<ChildProcess> {
    const r = startRunner(server.url, name, home.dir, { slots });
    runners.push(r);
    const alive = runners.filter((x) => x.exitCode === null && x.signalCode === null).length;
    await pollUntil(async () => (await server.api('/healthz')).runners >= alive, `runner ${name} to connect`);
    return r;
  }

  async function pushAndFinish(files: Record<string, string>, message: string, after = 0, during?: (id: number) => Promise<void>): Promise<any> {
    repo.commit(files, message);
    expect(repo.push().ok).to.equal(true);
    const build = await pollUntil(async () => (await server.builds('repo=shop')).find((b) => b.id > after), 'a build to be created');
    await during?.(build.id);
    return server.waitForBuild(build.id, 40_000);
  }

  function admin(method: string, path: string, body?: object): Promise<any> {
    return server.api(path, {
      method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  }

  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.close()));
    await Promise.all(runners.map((r) => stopChild(r)));
    runners = [];
    await server?.kill();
    // A killed runner's test processes may still be writing into its workspace for a moment.
    rmSync(home.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });

  it('shards a multi-file node --test suite over two runners, stores every test once, learns durations', async () => {
    await start((dir) => ({ setup: `echo "$GREENGATE_BUILD $GREENGATE_RUNNER" >> '${join(dir, 'setup.log')}'`, sandbox: { writable: [dir] } }));
    const setupFile = join(home.dir, 'setup.log');
    await runner('r1', 2);
    await runner('r2', 2);
    const files: Record<string, string> = {
      'test/slow.test.js': testFile(`test('slow one', async () => { await sleep(1200); });\ntest('slow two', () => {});`),
      'README.md': 'shop\n',
    };
    for (const i of [1, 2, 3]) files[`test/mid${i}.test.js`] = testFile(`test('mid ${i} a', async () => { await sleep(300); });\ntest('mid ${i} b', () => {});`);
    for (const i of [1, 2, 3, 4]) {
      files[`test/fast${i}.test.js`] = testFile(`describe('fast ${i}', () => { it('adds', () => {}); it('subtracts', () => {}); });`);
    }
    const first = await pushAndFinish(files, 'a suite of eight files');
    expect(first.result).to.equal('passed');
    const units = currentUnits(first);
    expect(units.length).to.be.at.least(4);
    expect(new Set(units.map((u: any) => u.runner))).to.deep.equal(new Set(['r1', 'r2']));
    const testFiles = Object.keys(files).filter((f) => f.endsWith('.test.js')).sort();
    expect(units.flatMap((u: any) => u.files).sort()).to.deep.equal(testFiles);
    expect(first.progress).to.deep.equal({ unitsDone: units.length, unitsTotal: units.length, expectedMsLeft: 0 });

    const expected = [
      'slow one: passed', 'slow two: passed',
      ...[1, 2, 3].flatMap((i) => [`mid ${i} a: passed`, `mid ${i} b: passed`]),
      ...[1, 2, 3, 4].flatMap((i) => [`fast ${i} > adds: passed`, `fast ${i} > subtracts: passed`]),
    ].sort();
    expect(testLines(first)).to.deep.equal(expected);
    expect(first.tests.find((t: any) => t.name === 'slow one').durationMs).to.be.at.least(1150);

    // setup: once per runner workspace (2 runners × 2 slots) per build, not once per unit.
    const setups = readFileSync(setupFile, 'utf8').trim().split('\n').filter((l) => l.startsWith(`${first.id} `));
    expect(setups.length).to.be.within(2, 4);
    expect(setups.length).to.be.below(units.length);

    // The next build is planned from what the first one measured: the slow file leads the queue.
    let midway: any = null;
    const second = await pushAndFinish({ 'README.md': 'shop, again\n' }, 'touch the readme', first.id, async (id) => {
      midway = await pollUntil(async () => {
        const b = await server.build(id);
        return b.state === 'running' && b.progress.unitsDone > 0 && b.progress.unitsDone < b.progress.unitsTotal ? b : null;
      }, 'the build to be part done');
    });
    // Progress while it runs: units done of total, and the expected time left from the learned durations.
    expect(midway.progress.unitsTotal).to.equal(midway.units.length);
    // No fixed window: what is left is at most the learned time of every unit of the build.
    expect(midway.progress.expectedMsLeft).to.be.within(1, midway.units.reduce((sum: number, u: any) => sum + u.expectedMs, 0));
    expect(second.result).to.equal('passed');
    const head = second.units.find((u: any) => u.seq === 1);
    expect(head.files).to.deep.equal(['test/slow.test.js']);
    expect(head.expectedMs).to.be.greaterThan(Math.max(...second.units.filter((u: any) => u !== head).map((u: any) => u.expectedMs)));
    // Learned from the first build: at least the slow test's own measured time (its file's wall time holds it).
    expect(head.expectedMs).to.be.at.least(first.tests.find((t: any) => t.name === 'slow one').durationMs);
    expect(testLines(second)).to.deep.equal(expected);

    const history = await server.api('/api/tests?repo=shop&builder=unit&name=slow%20one');
    expect(history.results.map((r: any) => [r.build, r.status])).to.deep.equal([[second.id, 'passed'], [first.id, 'passed']]);
    expect(history.summary).to.include({ runs: 2, passed: 2, failed: 0 });
    expect(history.summary.meanMs).to.be.at.least(1150);
    const byKey = await server.api('/api/tests?repo=shop&name=fast%202%20subtracts');
    expect(byKey.results.map((r: any) => r.classname)).to.deep.equal(['fast 2', 'fast 2']);
  });

  it('retries only the failing file on the other runner: the build is flaky and the tree stays open', async () => {
    // The static split makes two units of two files each: [a, b] and [c, flaky].
    await start((dir) => ({ run: `FLAKY_MARKER='${join(dir, 'flaky-marker')}' ${NODE_TEST_RUN}`, split: 'static', sandbox: { writable: [dir] } }));
    await runner('r1');
    await runner('r2');
    // A first build teaches the queue how long the files take, so it knows the other runner is busy only briefly.
    const warm = await pushAndFinish({
      'test/a.test.js': testFile(`test('steady a', async () => { await sleep(100); });`),
      'test/b.test.js': testFile(`test('steady b', () => {});`),
      'test/c.test.js': testFile(`test('steady c', () => {});`),
    }, 'three steady tests');
    expect(warm.result).to.equal('passed');
    const build = await pushAndFinish({ 'test/flaky.test.js': FLAKY_TEST }, 'a flaky test', warm.id);
    expect(existsSync(join(home.dir, 'flaky-marker'))).to.equal(true);
    expect(build.result).to.equal('flaky');
    const failed = build.units.find((u: any) => u.result === 'failed');
    const retry = build.units.find((u: any) => u.retryOf === failed.id);
    expect(failed.files).to.deep.equal(['test/c.test.js', 'test/flaky.test.js']);
    expect(build.units.find((u: any) => u.files.includes('test/a.test.js')).files).to.deep.equal(['test/a.test.js', 'test/b.test.js']);
    expect(retry).to.include({ attempt: 2, result: 'passed' });
    expect(retry.files).to.deep.equal(['test/flaky.test.js']);
    expect(retry.runner).to.not.equal(failed.runner);
    expect(build.progress).to.include({ unitsDone: 2, unitsTotal: 2 });

    // The test counts once (its last attempt decides, flaky since an earlier one failed); the attempt it replaced is listed apart.
    const flaky = build.tests.filter((t: any) => t.name === 'sometimes fails');
    expect(flaky.map((t: any) => [t.attempt, t.status, t.file, t.attempts])).to.deep.equal([[2, 'flaky', 'test/flaky.test.js', 2]]);
    const earlier = build.testAttempts.filter((t: any) => t.name === 'sometimes fails');
    expect(earlier.map((t: any) => [t.attempt, t.status, t.file])).to.deep.equal([[1, 'flaky', 'test/flaky.test.js']]);
    expect(earlier[0].message).to.contain('first run fails on purpose');
    const tree = await server.api('/api/tree/shop/main');
    expect(tree.state).to.equal('open');
    const history = await server.api('/api/tests?repo=shop&builder=unit&name=sometimes%20fails');
    expect(history.summary).to.include({ runs: 2, flaky: 1, passed: 1, failed: 0 });
  });

  it('gives a retry back to the runner it failed on when the other one stays busy', async () => {
    // A latch, not a sleep: the long test holds its runner (up to 30 s) until the retry has finished.
    const release = (dir: string) => join(dir, 'release-long');
    await start((dir) => ({ run: `FLAKY_MARKER='${join(dir, 'flaky-marker')}' RELEASE='${release(dir)}' ${NODE_TEST_RUN}`, sandbox: { writable: [dir] } }));
    await runner('r1');
    await runner('r2');
    const build = await pushAndFinish({
      'test/long.test.js': testFile(`test('long', async () => {
  const fs = require('node:fs');
  for (const deadline = Date.now() + 30000; !fs.existsSync(process.env.RELEASE) && Date.now() < deadline;) await sleep(20);
  if (!fs.existsSync(process.env.RELEASE)) throw new Error('never released');
});`),
      'test/flaky.test.js': FLAKY_TEST,
    }, 'a flaky test beside a long one', 0, async (id) => {
      await pollUntil(async () => (await server.build(id)).units.some((u: any) => u.retryOf !== null && u.state === 'done'), 'the retry to finish');
      writeFileSync(release(home.dir), 'go');
    });
    expect(existsSync(join(home.dir, 'flaky-marker'))).to.equal(true);
    expect(build.result).to.equal('flaky');
    const failed = build.units.find((u: any) => u.result === 'failed');
    const retry = build.units.find((u: any) => u.retryOf === failed.id);
    const long = build.units.find((u: any) => u.files.includes('test/long.test.js'));
    expect(long.runner).to.not.equal(failed.runner);
    expect(retry.runner).to.equal(failed.runner);
    expect(retry.finishedAt).to.be.below(long.finishedAt);
  });

  it('requeues a killed runner\'s unit at once: no test result lost, none counted twice', async () => {
    await start(() => ({}));
    const r1 = await runner('r1');
    await runner('r2');
    const files: Record<string, string> = {};
    for (const i of [1, 2, 3, 4]) {
      files[`test/part${i}.test.js`] = testFile(`test('part ${i} first', async () => { await sleep(${300 * i}); });\ntest('part ${i} second', () => {});`);
    }
    repo.commit(files, 'four parts');
    repo.push();
    const queued = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'a build to be created');
    const victim = await pollUntil(async () => (await server.build(queued.id)).units
      .find((u: any) => u.runner === 'r1' && u.state === 'running' && u.startedAt !== null && u.logBytes > 0), 'r1 to be running a unit');
    await stopChild(r1, 'SIGKILL');
    const requeued = await pollUntil(async () => (await server.build(queued.id)).units.find((u: any) => u.retryOf === victim.id),
      'the lost unit to be queued again', 3000);
    expect(requeued.files).to.deep.equal(victim.files);
    const done = await server.waitForBuild(queued.id, 40_000);
    expect(done.result).to.equal('passed');
    const lost = done.units.find((u: any) => u.id === victim.id);
    expect(lost).to.include({ result: 'exception', runner: 'r1' });
    expect(done.units.find((u: any) => u.retryOf === victim.id)).to.include({ result: 'passed', runner: 'r2' });
    expect(done.tests.filter((t: any) => t.unitId === victim.id)).to.deep.equal([]);
    expect(testLines(done)).to.deep.equal([1, 2, 3, 4].flatMap((i) => [`part ${i} first: passed`, `part ${i} second: passed`]).sort());
  });

  it('refuses a late result from a runner that lost its unit', async () => {
    await start(() => ({}));
    const ghost = await FakeRunner.connect(server.url, 'ghost');
    fakes.push(ghost);
    const build = await (async () => {
      repo.commit({ 'test/only.test.js': testFile(`test('only', () => {});`) }, 'one file');
      repo.push();
      return pollUntil(async () => (await server.builds('repo=shop'))[0], 'a build to be created');
    })();
    const assign = await ghost.waitFor<Extract<ServerMessage, { type: 'assign' }>>((m) => m.type === 'assign', 'an assignment');
    ghost.send({ type: 'started', unit: assign.unit, at: Date.now() });
    await ghost.close(); // the connection drops: the unit is lost and queued again
    await runner('r1');
    const done = await server.waitForBuild(build.id);
    expect(done.result).to.equal('passed');

    // The ghost comes back claiming it finished the unit, and reports it anyway.
    const back = await FakeRunner.connect(server.url, 'ghost', [{ unit: assign.unit, finished: true }]);
    fakes.push(back);
    const welcome = back.messages.find((m) => m.type === 'welcome') as Extract<ServerMessage, { type: 'welcome' }>;
    expect(welcome.drop).to.deep.equal([assign.unit]);
    back.send({ type: 'finished', unit: assign.unit, exitCode: 1, signal: null, timedOut: false, error: null, chunks: 0, durationMs: 5,
      tests: [{ name: 'only', classname: '', file: 'test/only.test.js', durationMs: 1, status: 'failed', message: 'late' }], testsError: null });
    await back.waitFor((m) => m.type === 'refuse' && m.unit === assign.unit, 'a refusal');
    const after = await server.build(build.id);
    expect(after.result).to.equal('passed');
    expect(testLines(after)).to.deep.equal(['only: passed']);
    expect(after.units.map((u: any) => u.result)).to.deep.equal(['exception', 'passed']);
  });

  it('reports quarantined failures without failing the build; the quarantine list is managed over the API', async () => {
    await start(() => ({ quarantine: ['known broken'] }));
    await runner('r1', 2);
    const added = await admin('POST', '/api/quarantine/shop/unit', { test: 'wobbly suite times out', reason: 'ticket 42' });
    expect(added).to.include({ test: 'wobbly suite times out', reason: 'ticket 42', source: 'api' });
    await server.api('/api/quarantine/shop/unit', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"test":"x"}' })
      .then(() => expect.fail('POST without the admin token was accepted'), (err: Error) => expect(err.message).to.contain('401'));
    const list = await server.api('/api/quarantine/shop/unit');
    expect(list.tests.map((t: any) => [t.test, t.source])).to.deep.equal([['known broken', 'config'], ['wobbly suite times out', 'api']]);

    const build = await pushAndFinish({
      'test/q.test.js': testFile(`test('known broken', () => { throw new Error('broken since forever'); });\ntest('works', () => {});`),
      'test/w.test.js': testFile(`describe('wobbly suite', () => { it('times out', () => { throw new Error('too slow'); }); it('is fine', () => {}); });`),
    }, 'two quarantined failures');
    expect(build.result).to.equal('passed');
    expect(build.units.every((u: any) => u.attempt === 1 && u.result === 'passed')).to.equal(true);
    expect(testLines(build)).to.deep.equal(['known broken: quarantined', 'wobbly suite > is fine: passed',
      'wobbly suite > times out: quarantined', 'works: passed']);
    expect(build.tests.find((t: any) => t.name === 'known broken').message).to.contain('broken since forever');
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');

    expect(await admin('DELETE', '/api/quarantine/shop/unit?test=wobbly%20suite%20times%20out')).to.deep.equal({ removed: 'wobbly suite times out' });
    await admin('DELETE', '/api/quarantine/shop/unit?test=wobbly%20suite%20times%20out')
      .then(() => expect.fail('a second DELETE succeeded'), (err: Error) => expect(err.message).to.contain('404'));
    await admin('DELETE', '/api/quarantine/shop/unit?test=known%20broken')
      .then(() => expect.fail('removing a config entry succeeded'), (err: Error) => expect(err.message).to.contain('GG_QUARANTINE_IN_CONFIG'));
    await server.api('/api/quarantine/shop/nope').then(() => expect.fail('unknown builder'), (err: Error) => expect(err.message).to.contain('404'));
  });

  it('splits a queued build again for the runner slots that connect before any unit is handed out', async () => {
    await start(() => ({ tests: 't/*.sh', run: 'for f in "$@"; do sh "$f"; done', junit: undefined, unitTargetSeconds: 600 }));
    const files: Record<string, string> = {};
    for (let i = 1; i <= 32; i++) files[`t/f${String(i).padStart(2, '0')}.sh`] = 'true\n';
    const names = Object.keys(files).sort();
    // A cold build (nothing learned yet): coldPlan's few units per slot.
    const planFor = (slots: number) => planCold(estimateCold(names, {}), slots, 0).length;
    expect(planFor(16), 'the plans differ').to.be.greaterThan(planFor(DEFAULT_SLOTS_FOR_PLANNING));
    repo.commit(files, 'thirty-two files, no runner yet');
    expect(repo.push().ok).to.equal(true);
    const queued = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'the build');
    const before = (await server.build(queued.id)).units;
    expect(before, 'planned for the slots assumed when no runner was ever seen').to.have.length(planFor(DEFAULT_SLOTS_FOR_PLANNING));
    expect(before.length, 'a first build is a few units per slot, not one per file').to.equal(COLD_UNITS_PER_SLOT * DEFAULT_SLOTS_FOR_PLANNING);
    await runner('wide', 16);
    const done = await server.waitForBuild(queued.id);
    expect(done.result).to.equal('passed');
    expect(done.units, 'split again for the 16 slots of the runner that came').to.have.length(planFor(16));
    expect(done.units.map((u: any) => u.files).flat().sort()).to.deep.equal(names);
    expect(done.units.every((u: any) => u.runner === 'wide' && u.result === 'passed')).to.equal(true);
  });

  it('learns each file\'s duration from its JUnit suite time (module loading included), sent by the runner as fileTimes', async () => {
    // A jest-junit-shaped report: one suite per file, timed by the seconds the file holds; its one test takes 1 ms.
    const run = '{ echo "<testsuites>"; for f in "$@"; do echo "<testsuite name=\\"$f\\" time=\\"$(cat "$f")\\" file=\\"$f\\">' +
      '<testcase name=\\"t $f\\" time=\\"0.001\\"/></testsuite>"; done; echo "</testsuites>"; } > junit.xml';
    await start(() => ({ tests: 't/*.time', run, junit: 'junit.xml' }));
    await runner('r1', 1);
    const first = await pushAndFinish({ 't/a.time': '5.0\n', 't/b.time': '3.0\n' }, 'two files whose suites took 5 s and 3 s');
    expect(first.result).to.equal('passed');
    expect(first.tests.map((t: any) => t.durationMs)).to.deep.equal([1, 1]);
    // Planned from the suite times, not the tests' 1 ms each.
    const second = await pushAndFinish({ 'README.md': 'again\n' }, 'plan from what was learned', first.id);
    expect(second.result).to.equal('passed');
    expect(second.units.flatMap((u: any) => u.files).sort()).to.deep.equal(['t/a.time', 't/b.time']);
    const total = second.units.reduce((sum: number, u: any) => sum + u.expectedMs, 0);
    expect(total, JSON.stringify(second.units)).to.be.within(8000, 8000 + 1000 * second.units.length);
  });
});
