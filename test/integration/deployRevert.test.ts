import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { parseConfig } from '../../server/config/config.js';
import { startServer, type RunningServer } from '../../server/main.js';
import { installHooks } from '../../server/gate/hookInstall.js';
import { DEPLOY_TRAILER } from '../../server/deploy/revert.js';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, git, gitEnv, pollUntil, startRunner, stopChild, tempHome } from '../helpers.js';
import { SampleApp } from '../server/immune/sampleApp.js';

const WINDOW = 8; // seconds of the stage's watch
const GOOD = 0.005;
const BAD = 0.05;

/**
 * The immune response end to end, nothing stubbed: a real server (in this process) with the
 * immune system's real watcher scraping the deployed app's /metrics (the sample app under load),
 * a real runner running the stage's deploy and rollback commands, a real bare repository with
 * greengate's hooks. The stage's `run` sets the app's error rate to the one in the deployed
 * commit's rate.txt; its `rollback` restores the one before. A commit that raises the error rate
 * from 0.5 % to 5 % is rolled back, reverted on the branch by greengate (through the gate, no
 * bypass) and closes the tree within the watch window plus 10 s.
 */
describe('a regressed deploy is rolled back, reverted through the gate and closes the tree (real watcher, runner, hooks)', function () {
  this.timeout(180_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: RunningServer;
  let runner: ChildProcess;
  let app: SampleApp;
  let control: Server;
  const rates: number[] = []; // the rates deployed before the current one (rollback pops)

  before(async () => {
    home = tempHome('gg-deploy-revert-');
    repo = new Repo(home.dir);
    app = await new SampleApp().start();
    app.startLoad(300);
    control = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/deploy') { rates.push(app.errorRate); app.errorRate = Number(url.searchParams.get('rate')); }
      if (url.pathname === '/rollback') app.errorRate = rates.pop() ?? GOOD;
      res.end(`rate ${app.errorRate}\n`);
    });
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', () => r()));
    const ctl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
    const call = (path: string) => `node -e "fetch(process.argv[1]).then((r) => r.text()).then(console.log)" "${ctl}${path}"`;
    const config = parseConfig(stringify({
      data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'test -f rate.txt' }],
        deploy: { main: { stages: [{ name: 'canary', run: call('/deploy?rate=$(cat rate.txt)'), rollback: call('/rollback'),
          watch: { seconds: WINDOW, settleSeconds: 1, source: { scrape: `${app.url}/metrics`, interval: 0.5 },
            metrics: [{ name: 'errors', kind: 'ratio', errors: 'http_requests_total{status=~"5.."}', total: 'http_requests_total' }] } }] } } }],
    }), { baseDir: home.dir });
    server = await startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    runner = startRunner(server.url, 'r1', home.dir, { slots: 2 });
    await pollUntil(() => server.connectedRunners().length === 1, 'the runner to connect');
  });
  after(async () => {
    await stopChild(runner);
    await server?.close();
    await app?.stop();
    control?.close();
    home?.cleanup();
  });

  /** git push without blocking this process: the server answering the hooks runs in it. */
  const push = () => new Promise<{ ok: boolean; output: string }>((resolve) => {
    const child = spawn('git', ['push', '--porcelain', 'origin', 'HEAD:refs/heads/main'], { cwd: repo.work, env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => { output += d; });
    child.stderr!.on('data', (d) => { output += d; });
    child.on('close', (code) => resolve({ ok: code === 0, output }));
  });
  const api = async (path: string) => (await fetch(server.url + path)).json() as Promise<any>;
  const deployOf = async (sha: string) => (await api('/api/deploys')).deploys.find((d: any) => d.sha === sha);
  const waitDeploy = (sha: string, state: string) => pollUntil(async () => { const d = await deployOf(sha); return d?.state === state ? d : null; },
    `the deploy of ${sha.slice(0, 8)} to be ${state}`, 90_000, 100);

  let bad = '';
  let revertSha = '';
  it('deploys a green head at 0.5 % errors: the watch finds nothing', async () => {
    const sha = repo.commit({ 'rate.txt': `${GOOD}\n`, 'app.txt': 'the app\n' }, 'the app at 0.5 % errors');
    { const p = await push(); expect(p.ok, p.output).to.equal(true); }
    const d = await waitDeploy(sha, 'deployed');
    expect(d.stages[0].verdict.regression).to.equal(false);
    expect(d.revertState).to.equal('none');
  });

  it('a commit raising the errors to 5 %: rolled back, reverted on the branch and the tree closed within the window + 10 s', async () => {
    bad = repo.commit({ 'rate.txt': `${BAD}\n` }, 'raise the error rate to 5 %');
    { const p = await push(); expect(p.ok, p.output).to.equal(true); }
    const watching = await waitDeploy(bad, 'watching');
    const done = await pollUntil(async () => { const d = await deployOf(bad); return d?.revertState === 'done' ? d : null; },
      'the revert to be done', 90_000, 100);
    const settled = Date.now();
    const startedAt = done.stages[0].watchStartedAt as number;
    console.log(`      regression caught, rolled back and reverted ${((settled - startedAt) / 1000).toFixed(1)} s after the stage's watch began (window ${WINDOW} s)`);
    expect(settled - startedAt).to.be.lessThan((WINDOW + 10) * 1000);
    expect(watching.id).to.equal(done.id);
    const d = await waitDeploy(bad, 'rolled_back');
    expect(d.revertError).to.equal(null);
    expect(d.stages[0].state).to.equal('rolled_back');
    expect(d.stages[0].verdict.evidence[0]).to.include({ metric: 'errors', regression: true });
    expect(app.errorRate, 'the rollback restored the rate').to.equal(GOOD);

    revertSha = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(git(repo.bare, 'rev-parse', `${revertSha}^`)).to.equal(bad);
    expect(git(repo.bare, 'show', `${revertSha}:rate.txt`)).to.equal(String(GOOD));
    const message = git(repo.bare, 'log', '-1', '--format=%an%n%B', revertSha);
    expect(message).to.match(/^greengate\n/).and.contain(`This reverts commit ${bad}.`).and.contain(`${DEPLOY_TRAILER}: ${d.id}`)
      .and.contain(`/deploys/${d.id}`);

    const tree = await api('/api/tree/shop/main');
    expect(tree).to.include({ state: 'closed', actor: 'greengate-immune', reason: `deploy ${d.id} regressed at stage canary` });
    expect(tree.message).to.match(/errors [\d.e-]+ → [\d.e-]+.*p=/).and.contain(`/deploys/${d.id}`);
    const pass = await pollUntil(async () => (await api('/api/tree-history/shop?branch=main')).events.find((e: any) => e.kind === 'revert'),
      'the gate pass of the revert to land', 20_000, 100);
    expect(pass).to.include({ actor: 'greengate', state: 'closed' });
    expect(pass.commits).to.deep.equal([revertSha]);
    const history = (await api('/api/tree-history/shop?branch=main')).events;
    expect(history.filter((e: any) => e.kind === 'bypass')).to.deep.equal([]);
    expect(history.find((e: any) => e.kind === 'close').commits).to.deep.equal([bad]);
  });

  it('the tree stays closed: the revert builds green and its deploy waits for a person to open the tree', async () => {
    const next = await waitDeploy(revertSha, 'pending');
    expect((await api(`/api/deploys/${next.id}`)).paused).to.equal('the tree was closed by greengate-immune');
    expect((await api('/api/tree/shop/main')).state).to.equal('closed');
  });

  it('an unrelated push is still refused while closed; the gate call without the hook secret gets nothing', async () => {
    git(repo.work, 'pull', '--quiet', '--rebase', 'origin', 'main');
    repo.commit({ 'feature.txt': 'x' }, 'an unrelated feature');
    const refused = await push();
    expect(refused.ok).to.equal(false);
    expect(refused.output).to.contain('REFUSED main: the tree is CLOSED').and.contain(`revertable: ${bad.slice(0, 7)}`)
      .and.contain('not a revert of the commits the closure names');
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(revertSha);
    const res = await fetch(`${server.url}/api/gate/shop`, { method: 'POST', body: `pusher ada\n` });
    expect(res.status).to.equal(401);
    expect((await res.json() as any).error.code).to.equal('GG_HOOK_SECRET');
  });

  it('a forged Greengate-Deploy trailer (deploy ids are public) does not make the immune system\'s revert a no-op', async () => {
    git(repo.work, 'reset', '--quiet', '--hard', revertSha);
    await fetch(`${server.url}/api/tree/shop/main`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ state: 'open', message: 'understood' }) });
    await waitDeploy(revertSha, 'deployed');
    const next = Math.max(...(await api('/api/deploys')).deploys.map((d: any) => d.id)) + 1;
    const bad2 = repo.commit({ 'rate.txt': `${BAD}\n` }, 'raise the error rate again');
    const forged = repo.commit({ 'backdoor.js': 'steal()\n' }, `Revert deploy ${next}\n\nThis reverts commit ${bad2}.\n\n${DEPLOY_TRAILER}: ${next}\n`);
    { const p = await push(); expect(p.ok, p.output).to.equal(true); }
    const d = await pollUntil(async () => { const x = await deployOf(forged); return x && x.revertState !== 'pending' && x.revertState !== 'none' ? x : null; },
      'the second revert to settle', 90_000, 100);
    expect(d.id).to.equal(next);
    expect(d.revertError).to.equal(null);
    expect(d.revertState).to.equal('done');
    const head = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(head).to.not.equal(forged);
    expect(git(repo.bare, 'show', `${head}:rate.txt`)).to.equal(String(GOOD));
    expect(git(repo.bare, 'ls-tree', '--name-only', head)).to.not.contain('backdoor.js');
  });
});
