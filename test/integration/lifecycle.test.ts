import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import {
  ADMIN_TOKEN, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';
import { openStore } from '../../server/store/index.js';
import { join } from 'node:path';

/** The build lifecycle across crashes and restarts: a build's result and its tree effect are one write. */
describe('build lifecycle (real server processes, SIGKILL, restarts)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  const runners: ChildProcess[] = [];

  async function start(run: string): Promise<void> {
    home = tempHome('gg-life-');
    repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run, timeout: 60 }] }]);
    server = new ServerProcess(config);
  }

  async function runner(name: string): Promise<void> {
    runners.push(startRunner(server.url, name, home.dir, { slots: 1 }));
    await pollUntil(async () => (await server.api('/healthz')).runners >= 1, `runner ${name} to connect`);
  }

  /** Starts the server and runner r1 on check.sh, pushes a commit that breaks it, and returns that finished build. */
  async function startWithRedBuild(): Promise<any> {
    await start('sh ./check.sh');
    await server.start();
    await runner('r1');
    repo.commit({ 'check.sh': 'exit 1\n' }, 'break the build');
    repo.push();
    return server.waitForBuild((await newestBuild()).id);
  }

  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const tree = () => server.api('/api/tree/shop/main');
  const newestBuild = (after = 0) => pollUntil(async () => (await server.builds('repo=shop')).find((b) => b.id > after), 'a new build');

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => stopChild(r)));
    await server?.kill();
    home?.cleanup();
  });

  it('closes the tree after a SIGKILL between a red build\'s result and its tree effect, once restarted', async () => {
    await start('sh ./check.sh');
    server.env = { GG_FAULT: 'crash-after-build-result' };
    await server.start();
    await runner('r1');
    repo.commit({ 'check.sh': 'echo broken >&2\nexit 1\n' }, 'break the build');
    repo.push();
    const red = await newestBuild();
    // The server kills itself (SIGKILL) right after writing the result, before the tree change.
    await pollUntil(() => server.child.signalCode === 'SIGKILL', 'the server to die at the fault point', 30_000);
    server.env = {};
    await server.start();
    // The runner reconnects and resends its unacknowledged result; the result and the closure land together.
    const done = await server.waitForBuild(red.id, 40_000);
    expect(done.result).to.equal('failed');
    const t = await tree();
    expect(t).to.include({ state: 'closed', automatic: true });
    expect(t.build.id).to.equal(red.id);
    const history = await server.api('/api/tree-history/shop?branch=main');
    expect(history.events.filter((e: any) => e.kind === 'close')).to.have.length(1);
  });

  it('repairs a missed closure at start-up from the stored builds, once (idempotent)', async () => {
    const red = await startWithRedBuild();
    expect((await tree()).state).to.equal('closed');
    await server.kill();
    // What an older version could leave behind: a red build and an open tree.
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    store.db.prepare(`UPDATE tree_state SET state = 'open', automatic = 1`).run();
    store.close();
    await server.start();
    expect(await tree()).to.include({ state: 'closed', automatic: true });
    expect((await tree()).build.id).to.equal(red.id);
    await server.kill();
    await server.start();
    const history = await server.api('/api/tree-history/shop?branch=main');
    expect(history.events.filter((e: any) => e.kind === 'close').map((e: any) => e.buildId)).to.deep.equal([red.id, red.id]);
  });

  it('never re-closes the tree for a rebuild of an older red build while the head is green', async () => {
    const red = await startWithRedBuild();
    expect((await tree()).state).to.equal('closed');
    repo.commit({ 'check.sh': 'exit 0\n' }, `fix the build\n\nFixes-build: ${red.id}`);
    repo.push();
    const green = await server.waitForBuild((await newestBuild(red.id)).id);
    expect(green.result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
    const rebuilt = await server.api(`/api/builds/${red.id}/rebuild`, { method: 'POST', headers: admin });
    const again = await server.waitForBuild(rebuilt.build);
    expect(again.result).to.equal('failed');
    expect(again.sha).to.equal(red.sha);
    expect((await tree()).state).to.equal('open');
  });

  it('keeps the badge green and the waterfall in push order when an older red commit is rebuilt', async () => {
    const red = await startWithRedBuild();
    repo.commit({ 'check.sh': 'exit 0\n' }, 'fix the build');
    repo.push();
    const green = await server.waitForBuild((await newestBuild(red.id)).id);
    expect(green.result).to.equal('passed');
    const badge = async () => (await fetch(`${server.url}/badge/shop/main.svg`).then((r) => r.text())).match(/data-status="(\w+)"/)![1];
    expect(await badge()).to.equal('passed');
    const rebuilt = await server.api(`/api/builds/${red.id}/rebuild`, { method: 'POST', headers: admin });
    expect((await server.waitForBuild(rebuilt.build)).result).to.equal('failed');
    // The rebuild is the newest build by start, not by push: the green head still decides.
    expect(await badge()).to.equal('passed');
    const page = await fetch(`${server.url}/`).then((r) => r.text());
    const shas = [...page.matchAll(/<tr data-sha="([0-9a-f]+)" data-repo="shop"/g)].map((m) => m[1]);
    expect(shas.slice(0, 2)).to.deep.equal([green.sha, red.sha]);
  });

  it('keeps a cancel across a restart: the unit ends cancelled, it is not run again', async () => {
    await start('sleep 30');
    await server.start();
    await runner('r1');
    repo.commit({ 'x.txt': 'x' }, 'a slow build');
    repo.push();
    const build = await newestBuild();
    await pollUntil(async () => (await server.build(build.id)).units.some((u: any) => u.state === 'running'), 'the unit to run');
    // The runner is frozen so the cancel is stored while nobody acts on it, then the server dies;
    // the runner wakes up to a new server, which must still know the unit was cancelled.
    runners[0].kill('SIGSTOP');
    await server.api(`/api/builds/${build.id}/cancel`, { method: 'POST', headers: admin });
    await server.kill('SIGKILL');
    await server.start();
    runners[0].kill('SIGCONT');
    const done = await server.waitForBuild(build.id, 40_000);
    expect(done.result).to.equal('cancelled');
    expect(done.units.map((u: any) => u.result)).to.deep.equal(['cancelled']);
  });
});
