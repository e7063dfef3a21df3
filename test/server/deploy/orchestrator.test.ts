import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { parseConfig } from '../../../server/config/config.js';
import { startServer, type RunningServer } from '../../../server/main.js';
import type { DeployHooks, Verdict, WatchOptions } from '../../../server/deploy/hooks.js';
import type { WatchConfig } from '../../../server/config/deploy.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { ADMIN_TOKEN, CLI, RUNNER_TOKEN, Repo, gitEnv, pollUntil, stopChild, tempHome } from '../../helpers.js';

/**
 * The orchestration with real parts — a real server in this process, real runner processes, real
 * git and SQLite — and the watcher stubbed (the point here is what the orchestrator does with a
 * verdict; the immune system's statistics are tested with its own module).
 */
describe('deploy orchestrator (real runners and git, stubbed watcher)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer | undefined;
  let runner: ChildProcess | undefined;
  let repo: Repo;
  let marks: string;
  const reverts: { repo: string; branch: string; shas: readonly string[]; reason: string; deployId: number }[] = [];
  const alerts: { kind: string; payload: Record<string, unknown> }[] = [];
  let verdictFor: (stage: number) => Verdict | null = () => ({ regression: false, evidence: [] });
  let watchCalls = 0;
  const books: WatchOptions['samples'][] = []; // where each watch was told to keep its windows

  const watch = (spec: WatchConfig, opts: WatchOptions) => new Promise<Verdict>((resolve, reject) => {
    const call = watchCalls++;
    books[call] = opts.samples;
    const timer = setTimeout(() => {
      const v = verdictFor(call);
      if (v) resolve(v); // null: watches until aborted
    }, spec.seconds * 1000);
    opts.signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new Error('aborted')); });
  });
  const hooks: Partial<DeployHooks> = {
    watch,
    revert: async (r, branch, shas, reason, deployId) => { reverts.push({ repo: r, branch, shas, reason, deployId }); },
    notify: (kind, payload) => { alerts.push({ kind, payload }); },
  };

  const configText = () => stringify({
    port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
    repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'test -f ok.txt' }],
      deploy: { main: { stages: ['canary', 'production'].map((name) => ({
        name, run: `test ! -f broken-${name}.txt && echo "deploy ${name} $GREENGATE_COMMIT $GREENGATE_REF" | tee -a ${marks}`,
        rollback: `echo "rollback ${name} $GREENGATE_COMMIT" >> ${marks}`,
        sandbox: { writable: [home.dir] }, // the marks file, outside the workspace
        runsOn: { role: 'deploy' }, watch: { seconds: 1, source: { scrape: 'http://127.0.0.1:9/metrics' }, metrics: [] }, // the watcher is stubbed
      })) } } }],
  });
  const start = async () => {
    server = await startServer({ config: parseConfig(configText(), { baseDir: home.dir }), port: 0, host: '127.0.0.1',
      log: pino({ level: 'silent' }), deployHooks: hooks });
    return server;
  };
  const api = async (path: string, init?: RequestInit) => {
    const res = await fetch(server!.url + path, init);
    return { status: res.status, body: await res.json() as any };
  };
  const deployOf = async (sha: string) => (await api('/api/deploys')).body.deploys.find((d: any) => d.sha === sha);
  const waitDeploy = (sha: string, state: string) => pollUntil(async () => {
    const d = await deployOf(sha);
    return d?.state === state ? d : null;
  }, `the deploy of ${sha.slice(0, 8)} to be ${state}`, 60_000, 100);
  /** A real runner offering role=deploy (deploy steps need it; it runs the tests too). */
  const startDeployer = () => spawn(process.execPath, [CLI, 'runner', '--server', server!.url, '--name', 'deployer', '--slots', '2',
    '--work', join(home.dir, 'runners', 'deployer'), '--label', 'role=deploy'],
  { env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: 'ignore' });
  /** The greengate CLI, asynchronously (the server runs in this process). */
  const cli = (args: string[], env: Record<string, string>) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...gitEnv(), GREENGATE_ADMIN_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const lines = () => existsSync(marks) ? readFileSync(marks, 'utf8').trim().split('\n') : [];

  beforeEach(async () => {
    home = tempHome('gg-deploy-');
    repo = new Repo(home.dir);
    marks = join(home.dir, 'marks.txt');
    reverts.length = 0; alerts.length = 0; watchCalls = 0; books.length = 0;
    verdictFor = () => ({ regression: false, evidence: [] });
    await start();
    runner = startDeployer();
    await pollUntil(() => server!.connectedRunners().length === 1, 'the runner to connect');
  });

  afterEach(async () => {
    await stopChild(runner);
    await server?.close();
    server = undefined;
    home.cleanup();
  });

  it('deploys a green head through both stages in order, each step on a runner with its log', async () => {
    const sha = repo.commit({ 'ok.txt': 'ok' }, 'good change');
    repo.push();
    const d = await waitDeploy(sha, 'deployed');
    expect(d.stages.map((s: any) => [s.name, s.state])).to.deep.equal([['canary', 'deployed'], ['production', 'deployed']]);
    expect(d.commits).to.deep.equal([sha]);
    expect(lines()).to.deep.equal([`deploy canary ${sha} refs/deploy/main/canary`, `deploy production ${sha} refs/deploy/main/production`]);
    const log = await fetch(`${server!.url}/api/builds/${d.stages[1].runBuild}/log`).then((r) => r.text());
    expect(log).to.contain(`deploy production ${sha} refs/deploy/main/production`);
    expect(reverts).to.deep.equal([]);
    expect((await api('/api/tree/shop/main')).body.state).to.equal('open');
  });

  it('on a regression: rolls the stage back, reverts the deployed commits, closes the tree with the evidence, alerts', async () => {
    const good = repo.commit({ 'ok.txt': 'ok' }, 'good change');
    repo.push();
    await waitDeploy(good, 'deployed');
    const evidence = [{ metric: 'http_errors_ratio', kind: 'ratio' as const, before: 0.005, after: 0.05, pValue: 1e-9, effect: 10, regression: true,
      samplesBefore: [0.004, 0.006, 0.005], samplesAfter: [0.05, 0.049, 0.051] }];
    verdictFor = () => ({ regression: true, evidence });
    const bad = repo.commit({ 'app.txt': 'raises errors' }, 'bad change');
    repo.push();
    const d = await waitDeploy(bad, 'rolled_back');
    expect(d.stages.map((s: any) => [s.name, s.state])).to.deep.equal([['canary', 'rolled_back'], ['production', 'waiting']]);
    expect(d.stages[0].verdict.evidence[0].metric).to.equal('http_errors_ratio');
    expect(d.commits).to.deep.equal([bad]);
    expect(lines().slice(-2)).to.deep.equal([`deploy canary ${bad} refs/deploy/main/canary`, `rollback canary ${bad}`]);
    await pollUntil(() => reverts.length === 1 && alerts.length === 1, 'the revert and the alert');
    expect(reverts[0]).to.include({ repo: 'shop', branch: 'main', deployId: d.id });
    expect(reverts[0].shas).to.deep.equal([bad]);
    expect(alerts[0].kind).to.equal('deploy.rolledBack');
    expect(alerts[0].payload.text).to.contain(`deploy ${d.id} of ${bad.slice(0, 10)} regressed and was rolled back`);
    const tree = (await api('/api/tree/shop/main')).body;
    expect(tree.state).to.equal('closed');
    expect(tree.actor).to.equal('greengate-immune');
    expect(tree.reason).to.equal(`deploy ${d.id} regressed at stage canary`);
    expect(tree.message).to.contain('http_errors_ratio 0.005 → 0.05').and.contain('p=1.00e-9').and.contain(`/deploys/${d.id}`);
    expect((await api(`/api/deploys/${d.id}`)).body.revertState).to.equal('done');
    expect((await api(`/api/deploys/${d.id}`)).body.paused).to.equal('the tree was closed by greengate-immune');
  });

  it('pause and resume are admin only; a paused branch waits and its newer green heads coalesce', async () => {
    const noAuth = await api('/api/deploys/shop/main/pause', { method: 'POST' });
    expect(noAuth.status).to.equal(401);
    expect(noAuth.body.error.code).to.equal('GG_ADMIN_TOKEN');
    expect((await api('/api/deploys/shop/main/resume', { method: 'POST' })).status).to.equal(401);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    expect((await api('/api/deploys/shop/nope/pause', { method: 'POST', headers: auth, body: '{}' })).body.error.code).to.equal('GG_NOT_FOUND');
    const refused = await cli(['deploy', 'pause', '--server', server!.url, '--message', 'release freeze'], {});
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain('HTTP 401 GG_ADMIN_TOKEN');
    const paused = await cli(['deploy', 'pause', '--server', server!.url, '--message', 'release freeze'], { GREENGATE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(paused.stdout.trim()).to.equal('shop/main: deploys paused (paused by admin: release freeze)');

    const first = repo.commit({ 'ok.txt': 'ok' }, 'one');
    repo.push();
    await pollUntil(async () => (await deployOf(first))?.state === 'pending', 'the first deploy to be requested');
    const second = repo.commit({ 'b.txt': 'b' }, 'two');
    repo.push();
    await pollUntil(async () => (await deployOf(second))?.state === 'pending', 'the second deploy to be requested');
    expect(lines()).to.deep.equal([]);

    await api('/api/deploys/shop/main/resume', { method: 'POST', headers: auth });
    const d = await waitDeploy(second, 'deployed');
    expect((await deployOf(first)).state).to.equal('superseded');
    expect(d.commits).to.deep.equal([second, first]);
    expect(lines().filter((l) => l.startsWith('deploy canary'))).to.deep.equal([`deploy canary ${second} refs/deploy/main/canary`]);
  });

  it('a run step that fails rolls back that stage and the earlier ones, last first: failed, no revert, the tree open', async () => {
    const sha = repo.commit({ 'ok.txt': 'ok', 'broken-production.txt': 'x' }, 'breaks the production deploy script');
    repo.push();
    const d = await waitDeploy(sha, 'failed');
    expect(d.stages.map((s: any) => s.state)).to.deep.equal(['rolled_back', 'rolled_back']);
    expect(d.reason).to.match(/^stage production: run failed \(build \d+\)$/);
    expect(lines()).to.deep.equal([`deploy canary ${sha} refs/deploy/main/canary`, `rollback production ${sha}`, `rollback canary ${sha}`]);
    await pollUntil(() => alerts.length === 1, 'the alert');
    expect(alerts[0].kind).to.equal('deploy.failed');
    expect(reverts).to.deep.equal([]);
    expect((await api('/api/tree/shop/main')).body.state).to.equal('open');
  });

  it('maintenance pauses deploys; opening the tree starts the waiting one', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    await api('/api/tree/shop/main', { method: 'POST', headers: auth, body: JSON.stringify({ state: 'maintenance', message: 'db migration' }) });
    const sha = repo.commit({ 'ok.txt': 'ok' }, 'change');
    repo.push();
    const pending = await pollUntil(async () => { const x = await deployOf(sha); return x?.state === 'pending' ? x : null; }, 'the deploy to be asked for');
    expect((await api(`/api/deploys/${pending.id}`)).body.paused).to.equal('the tree is under maintenance');
    expect(lines()).to.deep.equal([]);
    await api('/api/tree/shop/main', { method: 'POST', headers: auth, body: JSON.stringify({ state: 'open' }) });
    await waitDeploy(sha, 'deployed');
  });

  it('a server closed mid-watch watches again after the restart and finishes the deploy', async () => {
    verdictFor = (call) => (call === 0 ? null : { regression: false, evidence: [] }); // the first watch never ends
    const sha = repo.commit({ 'ok.txt': 'ok' }, 'good change');
    repo.push();
    await waitDeploy(sha, 'watching');
    await server!.close();
    await start(); // the same data directory, a new port: the runner is started again for it
    await stopChild(runner);
    runner = startDeployer();
    const d = await waitDeploy(sha, 'deployed');
    expect(watchCalls).to.be.greaterThan(2);
    expect(d.stages.map((s: any) => s.state)).to.deep.equal(['deployed', 'deployed']);
    expect(lines().filter((l) => l.startsWith('deploy canary'))).to.have.length(1);
  });

  it('an inconclusive verdict holds the deploy (not promoted, the next waits); resume watches the stage again with its stored baseline', async () => {
    verdictFor = (call) => call === 0 ? { regression: false, evidence: [], inconclusive: 'no data for errors after the stage (10:00:00–10:00:01)' }
      : { regression: false, evidence: [] };
    {
      const sha = repo.commit({ 'ok.txt': 'ok' }, 'good change');
      repo.push();
      const held = await pollUntil(async () => { const x = await deployOf(sha); return x?.heldAt ? x : null; }, 'the deploy to be held');
      expect(held.state).to.equal('watching');
      expect(held.holdReason).to.equal('stage canary: inconclusive: no data for errors after the stage (10:00:00–10:00:01)');
      expect(held.stages[0].verdict.inconclusive).to.be.a('string');
      await pollUntil(() => alerts.length === 1, 'the deploy.held alert');
      expect(alerts[0].kind).to.equal('deploy.held');
      expect(alerts[0].payload.text).to.contain(`deploy ${held.id} of ${sha.slice(0, 10)} is held: stage canary: inconclusive`)
        .and.contain('greengate deploy pause rolls it back');
      const next = repo.commit({ 'b.txt': 'b' }, 'next change');
      repo.push();
      await pollUntil(async () => (await deployOf(next))?.state === 'pending', 'the next deploy to be asked for');
      expect(lines()).to.deep.equal([`deploy canary ${sha} refs/deploy/main/canary`]); // nothing promoted, nothing else deployed
      expect(watchCalls).to.equal(1);
      const status = await cli(['deploy', 'status', '--server', server!.url], {});
      expect(status.stdout).to.contain('HELD: stage canary: inconclusive');
      // The watch's windows go to SQLite: the book the orchestrator gave the watcher keeps them.
      books[0]!.save({ side: 'before', from: 1, to: 2, readings: { errors: { kind: 'ratio', errors: 1, total: 100 } } });
      books[0]!.save({ side: 'after', from: 2, to: 3, readings: { errors: null } });
      expect((await api('/api/deploys/shop/main/resume', { method: 'POST' })).status).to.equal(401);
      expect((await deployOf(sha)).heldAt).to.be.a('number');
      await api('/api/deploys/shop/main/resume', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await waitDeploy(next, 'deployed');
      const d = await deployOf(sha);
      expect(d.state).to.equal('deployed');
      expect(d.heldAt).to.equal(null);
      expect(d.stages[0].watchStartedAt).to.be.greaterThan(held.stages[0].watchStartedAt); // a new window
      expect(books[1]!.load().map((w) => w.side), 'the baseline kept, the windows after dropped').to.deep.equal(['before']);
    }
  });
});
