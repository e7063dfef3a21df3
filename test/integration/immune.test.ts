import { expect } from 'chai';
import Database from 'better-sqlite3';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../server/cli/demoApp.js';
import { ADMIN_TOKEN, CLI, ROOT, RUNNER_TOKEN, Repo, ServerProcess, gitEnv, pollUntil, stopChild, tempHome } from '../helpers.js';

/**
 * The immune system end to end, every part real: a "production" app in its own process
 * (productionApp.ts: prom-client, requests counted by status, its own load of ~300 requests a
 * second) scraped every second by Debian's Prometheus (/usr/bin/prometheus, its own config and
 * storage, a free port); a greengate server process, a runner process labelled role=deploy, a
 * gated git repository with its hooks. The repository holds app.json (the release's error rate);
 * each deploy stage's `run` posts the checked-out app.json to the app, its `rollback` asks the app
 * for the release before that stage. Both stages are watched through Prometheus (an error ratio).
 *
 * One Prometheus and one app serve every case (the production outlives deploys); each case has its
 * own greengate server, data and repository. The immune system fails closed (issue 20): a server
 * killed mid-watch resumes from the windows it stored (also when it scrapes the app itself), a
 * window without data holds the deploy, and Alertmanager alerts count only when new and started
 * during the watch.
 */
const WINDOW = 8; // seconds each stage is watched
const SETTLE = 1;
const GOOD = 0.005;
const BAD = 0.05;
const PROMETHEUS = '/usr/bin/prometheus';
const APP_JS = join(ROOT, 'dist', 'test', 'integration', 'productionApp.js');
const AM_TOKEN = 'alertmanager-token-0123456789';
const RATIO = `sum(increase(http_requests_total{status="500"}[${WINDOW}s])) / sum(increase(http_requests_total[${WINDOW}s]))`;

interface AppState { current: { release: string; errorRate: number }; calls: { action: string; stage: string; sha: string; release: string; errorRate: number }[] }

describe('immune response end to end (Prometheus, the app, server, runner, git)', function () {
  this.timeout(90_000);
  let shared: ReturnType<typeof tempHome>;
  let app: ChildProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let appUrl = '';
  let promUrl = '';
  let home: ReturnType<typeof tempHome> | undefined;
  let server: ServerProcess | undefined;
  let runner: (ChildProcess & { output?: string }) | undefined;

  const promQuery = async (query: string): Promise<number | null> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = await res.json() as { data: { result: { value: [number, string] }[] } };
    const v = body.data.result[0]?.value[1];
    return v === undefined ? null : Number(v);
  };
  const appState = async (): Promise<AppState> => (await fetch(`${appUrl}/state`)).json() as Promise<AppState>;
  /** Prometheus holds a whole baseline window before now, all of it at the good error rate. */
  const cleanBaseline = () => pollUntil(async () => {
    const scrapes = await promQuery(`count_over_time(http_requests_total{status="200"}[${WINDOW}s])`);
    const ratio = await promQuery(RATIO);
    return scrapes !== null && scrapes >= WINDOW - 1 && ratio !== null && ratio < 0.015;
  }, `Prometheus to hold a ${WINDOW} s baseline at 0.5 % errors`, 40_000, 250);

  before(async () => {
    expect(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: .ci/run installs Debian's prometheus (apt-get install prometheus)`).to.equal(true);
    shared = tempHome('gg-immune-e2e-');
    app = spawn(process.execPath, [APP_JS, '--rps', '300'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    app.stdout!.on('data', (d) => { out += d; });
    appUrl = (await pollUntil(() => /listening (http:\/\/\S+)/.exec(out), 'the app to listen', 15_000))[1];
    const port = await freePort();
    writeFileSync(join(shared.dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: app\n    static_configs: [{ targets: ['${new URL(appUrl).host}'] }]\n`);
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(shared.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(shared.dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    promUrl = `http://127.0.0.1:${port}`;
    await pollUntil(async () => (await promQuery('sum(http_requests_total)')) !== null, 'Prometheus to scrape the app', 30_000, 200);
  });

  after(async () => {
    await stopChild(prometheus);
    app?.stdin?.end();
    await stopChild(app);
    shared?.cleanup();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      console.log(`server output:\n${server?.output}\nrunner output:\n${runner?.output}\napp: ${JSON.stringify(await appState().catch(() => null))}`);
    }
    await stopChild(runner);
    await server?.kill('SIGKILL');
    home?.cleanup();
    server = runner = home = undefined;
  });

  interface Options {
    stages?: string[];
    /** Where the watch reads: Prometheus (default), or greengate scrapes the app's /metrics itself. */
    source?: 'prometheus' | 'scrape';
    /** The total counter's selector (default http_requests_total). */
    total?: string;
    /** watch.service (Alertmanager alerts labelled with it count); sets alertmanagerToken too. */
    service?: string;
  }
  /** A fresh greengate (server process, data, gated repository) deploying main to the app, and its runner. */
  async function greengate(o: Options = {}): Promise<{ repo: Repo; server: ServerProcess }> {
    home = tempHome('gg-immune-case-');
    const repo = new Repo(home.dir);
    const file = join(home.dir, 'greengate.yml');
    const stage = (name: string) => ({
      name,
      run: `curl -fsS -X POST --data-binary @app.json "${appUrl}/deploy?stage=${name}&sha=$GREENGATE_COMMIT"`,
      rollback: `curl -fsS -X POST "${appUrl}/rollback?stage=${name}&sha=$GREENGATE_COMMIT"`,
      runsOn: { role: 'deploy' }, timeout: 60,
      // The before window is as long as the clean baseline the test waits for (cleanBaseline), not the default five
      // windows: the app and Prometheus start with this file, and a longer window would reach back to their start.
      watch: { seconds: WINDOW, baselineSeconds: WINDOW, settleSeconds: SETTLE, alpha: 0.001,
        source: o.source === 'scrape' ? { scrape: `${appUrl}/metrics`, interval: 1 } : { prometheus: promUrl },
        ...(o.service ? { service: o.service } : {}),
        metrics: [{ name: 'errors', kind: 'ratio', errors: 'http_requests_total{status="500"}', total: o.total ?? 'http_requests_total' }] },
    });
    writeFileSync(file, stringify({
      port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      ...(o.service ? { alertmanagerToken: AM_TOKEN } : {}),
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }],
        deploy: { main: { stages: (o.stages ?? ['canary', 'production']).map(stage) } } }],
    }));
    server = await new ServerProcess(file).start();
    const r = spawn(process.execPath, [CLI, 'runner', '--server', server.url, '--name', 'deployer', '--slots', '1',
      '--label', 'role=deploy', '--work', join(home.dir, 'runner')], { env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: ['ignore', 'pipe', 'pipe'] });
    runner = Object.assign(r, { output: '' });
    r.stdout!.on('data', (d) => { runner!.output += d; });
    r.stderr!.on('data', (d) => { runner!.output += d; });
    const s = server;
    await pollUntil(async () => (await s.api('/healthz')).runners === 1, 'the runner to connect');
    return { repo, server: s };
  }

  const deployOf = async (s: ServerProcess, sha: string) => (await s.api('/api/deploys')).deploys.find((d: any) => d.sha === sha);
  const deployEnds = (s: ServerProcess, sha: string, timeoutMs = 60_000) => pollUntil(async () => {
    const d = await deployOf(s, sha);
    return d && ['deployed', 'rolled_back', 'failed', 'superseded'].includes(d.state) ? d : null;
  }, `the deploy of ${sha.slice(0, 10)} to end`, timeoutMs, 100);
  const callsOf = async (sha: string) => (await appState()).calls.filter((c) => c.sha === sha).map((c) => `${c.action} ${c.stage}`);
  /** The release the app is at after the rollback of `sha` (the current release may move on: a revert is deployed in turn). */
  const rolledBackTo = async (sha: string) => (await appState()).calls.find((c) => c.sha === sha && c.action === 'rollback');
  /** The immune system's closure of shop/main, from the tree's history. */
  const immuneClosure = async (s: ServerProcess) => (await s.api('/api/tree-history/shop?branch=main')).events
    .find((e: any) => e.state === 'closed' && e.actor === 'greengate-immune');
  /** The deploy's step builds (stage order, run before rollback): builder, result and how many unit runs it took. */
  const stepsOf = async (s: ServerProcess, d: any) => Promise.all(d.stages.flatMap((x: any) => [x.runBuild, x.rollbackBuild])
    .filter((id: number | null) => id !== null).map(async (id: number) => {
      const b = await s.build(id);
      return `${b.builder} ${b.result} ×${b.units.length}`;
    }));
  const evidenceLine = /rolled back at stage canary: errors [\d.e+-]+ → [\d.e+-]+ \(×[\d.e+-]+, p=[\d.e+-]+\)/;

  it('promotes a good commit (0.5 % errors) through canary and production; the tree stays open', async () => {
    const { repo, server: s } = await greengate();
    await cleanBaseline();
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: GOOD }) }, 'Cache the cart page');
    expect(repo.push().ok).to.equal(true);
    const d = await deployEnds(s, sha);
    expect(d.state, JSON.stringify(d)).to.equal('deployed');
    expect(d.stages.map((x: any) => [x.name, x.state])).to.deep.equal([['canary', 'deployed'], ['production', 'deployed']]);
    for (const stage of d.stages) {
      const errors = stage.verdict.evidence[0];
      expect(errors, JSON.stringify(stage.verdict)).to.include({ metric: 'errors', regression: false });
      expect(errors.before).to.be.greaterThan(0).and.lessThan(0.02);
      expect(errors.after).to.be.lessThan(0.02);
      expect(stage.watchEndsAt - stage.watchStartedAt).to.equal(WINDOW * 1000);
    }
    expect(await callsOf(sha)).to.deep.equal(['deploy canary', 'deploy production']);
    expect(await stepsOf(s, d)).to.deep.equal(['deploy:canary passed ×1', 'deploy:production passed ×1']);
    expect((await appState()).current).to.deep.equal({ release: sha, errorRate: GOOD });
    const tree = await s.api('/api/tree/shop/main');
    expect(tree.state).to.equal('open');
  });

  it('rolls back a commit that raises errors from 0.5 % to 5 %, closes the tree with the evidence within the window + 10 s', async () => {
    const { repo, server: s } = await greengate();
    await cleanBaseline();
    const releaseBefore = (await appState()).current;
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: BAD }) }, 'Retry failed payments more eagerly');
    expect(repo.push().ok).to.equal(true);

    const tree = await pollUntil(async () => { const t = await s.api('/api/tree/shop/main'); return t.state === 'closed' ? t : null; },
      'the immune system to close the tree', 60_000, 100);
    const d = await deployEnds(s, sha);
    const canary = d.stages[0];
    const delay = tree.since - canary.watchStartedAt;
    console.log(`      closure delay (canary watch start → tree closed): ${(delay / 1000).toFixed(2)} s (window ${WINDOW} s, settle ${SETTLE} s)`);
    expect(delay).to.be.within(WINDOW * 1000, (WINDOW + 10) * 1000);
    expect(tree.actor).to.equal('greengate-immune');
    expect(tree.message).to.match(evidenceLine).and.include(`deploy ${d.id} of ${sha.slice(0, 10)}`);

    expect(d.state, JSON.stringify(d)).to.equal('rolled_back');
    expect(d.stages.map((x: any) => [x.name, x.state])).to.deep.equal([['canary', 'rolled_back'], ['production', 'waiting']]);
    expect(d.reason).to.match(/^stage canary: regression: errors/);
    const errors = canary.verdict.evidence[0];
    expect(errors).to.include({ metric: 'errors', kind: 'ratio', regression: true });
    expect(errors.before).to.be.lessThan(0.02);
    expect(errors.after).to.be.greaterThan(0.03);
    expect(errors.pValue).to.be.lessThan(0.001);
    expect((await s.build(canary.rollbackBuild)).result).to.equal('passed');
    // The rollback ran once and put the release from before back: the app is at 0.5 % again.
    expect(await callsOf(sha)).to.deep.equal(['deploy canary', 'rollback canary']);
    expect(await rolledBackTo(sha)).to.include(releaseBefore);
    expect((await appState()).current.errorRate).to.equal(GOOD);
    await pollUntil(async () => (await promQuery(`sum(increase(http_requests_total{status="500"}[3s])) / sum(increase(http_requests_total[3s]))`) ?? 1) < 0.02,
      'Prometheus to see the error rate back at 0.5 %', 30_000, 250);

    const settled = await pollUntil(async () => { const x = await s.api(`/api/deploys/${d.id}`); return x.revertState !== 'pending' ? x : null; },
      'the deploy\'s revert to be recorded', 30_000, 100);
    const revertedAt = Date.now();
    console.log(`      reverted on the branch ${((revertedAt - canary.watchStartedAt) / 1000).toFixed(2)} s after the canary's watch began`);
    expect(settled.revertState, settled.revertError ?? '').to.equal('done');
    expect(revertedAt - canary.watchStartedAt).to.be.at.most((WINDOW + 10) * 1000);
    // The revert is on the branch, right after the bad commit, made by greengate through the gate.
    const head = execFileSync('git', ['--git-dir', repo.bare, 'log', '-1', '--format=%P%n%an%n%B', 'refs/heads/main'], { encoding: 'utf8' });
    expect(head.split('\n')[0]).to.equal(sha);
    expect(head).to.contain('\ngreengate\n').and.contain(`This reverts commit ${sha}.`).and.contain(`Greengate-Deploy: ${d.id}`);
  });

  it('a SIGKILL of the server mid-watch: after the restart the watch resumes and the bad deploy is rolled back, each step run once', async () => {
    const { repo, server: s } = await greengate();
    await cleanBaseline();
    const releaseBefore = (await appState()).current;
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: BAD }) }, 'Shorter payment timeouts');
    expect(repo.push().ok).to.equal(true);
    const watching = await pollUntil(async () => { const x = await deployOf(s, sha); return x?.state === 'watching' ? x : null; },
      'the canary to be watched', 60_000, 50);
    expect(await callsOf(sha)).to.deep.equal(['deploy canary']);
    expect(Date.now(), 'the kill lands inside the canary\'s window').to.be.lessThan(watching.stages[0].watchEndsAt);

    await s.kill('SIGKILL');
    await s.start();
    const d = await deployEnds(s, sha);
    expect(d.state, JSON.stringify(d)).to.equal('rolled_back');
    const canary = d.stages[0];
    expect(canary.watchStartedAt).to.equal(watching.stages[0].watchStartedAt); // the same window, not a new one
    expect(canary.verdict.evidence[0]).to.include({ metric: 'errors', regression: true });
    expect(d.stages.map((x: any) => [x.name, x.state])).to.deep.equal([['canary', 'rolled_back'], ['production', 'waiting']]);
    expect(await callsOf(sha)).to.deep.equal(['deploy canary', 'rollback canary']);
    expect(await stepsOf(s, d)).to.deep.equal(['deploy:canary passed ×1', 'rollback:canary passed ×1']); // one unit run per step, none repeated
    expect(await rolledBackTo(sha)).to.include(releaseBefore);
    const closure = await immuneClosure(s);
    console.log(`      closure delay across the SIGKILL (canary watch start → tree closed): ${((closure.at - canary.watchStartedAt) / 1000).toFixed(2)} s`);
    expect(closure?.message).to.match(evidenceLine).and.include(`deploy ${d.id} of ${sha.slice(0, 10)}`);
    expect(closure.at - canary.watchStartedAt).to.be.at.most((WINDOW + 10) * 1000 + 15_000); // the restart's downtime on top
    // What SQLite says: the baseline read before the kill and the window after, each stored once.
    const db = new Database(join(home!.dir, 'data', 'greengate.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT side, from_ms AS "from", to_ms AS "to" FROM watch_samples WHERE deploy_id = ? AND position = 0 ORDER BY side').all(d.id);
      expect(rows).to.deep.equal([
        { side: 'after', from: canary.watchStartedAt, to: canary.watchStartedAt + WINDOW * 1000 },
        { side: 'before', from: canary.watchStartedAt - WINDOW * 1000, to: canary.watchStartedAt },
      ]);
    } finally {
      db.close();
    }
  });

  it('scraping the app itself: a SIGKILL mid-watch does not lose the baseline — the bad deploy is rolled back after the restart', async () => {
    // Before issue 20 the scraped history lived in memory only: after the restart the baseline was empty and the deploy ended `deployed`.
    const { repo, server: s } = await greengate({ source: 'scrape', stages: ['canary'] });
    const followedSince = Date.now();
    await cleanBaseline();
    await pollUntil(() => Date.now() - followedSince > (WINDOW + 1) * 1000, 'greengate to have scraped a whole baseline window', 20_000, 100);
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: BAD }) }, 'Fewer retries on checkout');
    expect(repo.push().ok).to.equal(true);
    const watching = await pollUntil(async () => { const x = await deployOf(s, sha); return x?.state === 'watching' ? x : null; },
      'the canary to be watched', 60_000, 50);
    await pollUntil(async () => (await s.api(`/api/deploys/${watching.id}`)).stages[0].watchStartedAt !== null, 'the watch to start', 5_000, 20);
    await s.kill('SIGKILL');
    const down = Date.now();
    await s.start();
    console.log(`      server down ${((Date.now() - down) / 1000).toFixed(2)} s of the ${WINDOW} s window`);
    const d = await deployEnds(s, sha);
    expect(d.state, JSON.stringify(d)).to.equal('rolled_back');
    const canary = d.stages[0];
    expect(canary.watchStartedAt).to.equal(watching.stages[0].watchStartedAt);
    const errors = canary.verdict.evidence[0];
    expect(errors, JSON.stringify(canary.verdict)).to.include({ metric: 'errors', regression: true });
    expect(errors.before, 'the stored baseline, read before the kill').to.be.lessThan(0.02);
    expect(await callsOf(sha)).to.deep.equal(['deploy canary', 'rollback canary']);
  });

  it('a window without data (Prometheus has none for the selector) holds the deploy: never promoted, shown held; pause rolls it back', async () => {
    // Before issue 20 an empty window compared 0 with 0, found no regression and the deploy ended `deployed`.
    const { repo, server: s } = await greengate({ stages: ['canary'], total: 'http_requests_total{job="no-such-job"}' });
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: BAD }) }, 'Drop the cache warm-up');
    expect(repo.push().ok).to.equal(true);
    const held = await pollUntil(async () => {
      const x = await deployOf(s, sha);
      if (x && !['pending', 'running', 'watching'].includes(x.state)) return x;
      return x?.heldAt ? x : null;
    }, 'the deploy to be held', 60_000, 100);
    expect(held.state, JSON.stringify(held)).to.equal('watching');
    expect(held.holdReason).to.match(/^stage canary: inconclusive: no data for errors after the stage/); // the branch's first deploy: no baseline is excused
    expect(held.stages[0].state).to.equal('watching');
    expect(held.stages[0].verdict.inconclusive).to.be.a('string');
    const page = await s.api(`/deploys/${held.id}`);
    expect(page).to.include('id="deploy-held"').and.include('greengate deploy pause');
    // Held means held: the window is long over and nothing moves it.
    await pollUntil(() => Date.now() > held.stages[0].watchEndsAt + 2_000, 'the window to be over', 15_000, 100);
    expect((await s.api(`/api/deploys/${held.id}`)).state).to.equal('watching');
    expect(await callsOf(sha)).to.deep.equal(['deploy canary']);

    const pause = await fetch(`${s.url}/api/deploys/shop/main/pause`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(pause.status, 'pause without credentials').to.equal(401);
    expect((await s.api(`/api/deploys/${held.id}`)).heldAt).to.be.a('number');
    await s.api('/api/deploys/shop/main/pause', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ reason: 'no data' }) });
    const d = await deployEnds(s, sha);
    expect(d.state, JSON.stringify(d)).to.equal('failed');
    expect(d.heldAt).to.equal(null);
    expect(d.reason).to.match(/held .*rolled back by/);
    expect(await callsOf(sha)).to.deep.equal(['deploy canary', 'rollback canary']);
    expect((await s.api('/api/tree/shop/main')).state, 'nothing was shown to be wrong: the tree stays open').to.equal('open');
  });

  /** Posts an Alertmanager webhook message with the token. */
  const alertmanager = (s: ServerProcess, alerts: unknown[]) => s.api('/api/alertmanager', { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${AM_TOKEN}` }, body: JSON.stringify({ version: '4', alerts }) });

  it('an alert that started firing before the watch does not roll the deploy back', async () => {
    const { repo, server: s } = await greengate({ stages: ['canary'], service: 'shop' });
    await cleanBaseline();
    const old = { status: 'firing', labels: { alertname: 'DiskFull', service: 'shop' }, startsAt: new Date(Date.now() - 60_000).toISOString(), fingerprint: 'd1' };
    expect(await alertmanager(s, [old])).to.deep.equal({ recorded: 1, ignored: 0 });
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: GOOD }) }, 'Bigger thumbnails');
    expect(repo.push().ok).to.equal(true);
    await pollUntil(async () => (await deployOf(s, sha))?.state === 'watching', 'the canary to be watched', 60_000, 50);
    await alertmanager(s, [old]); // Alertmanager repeats it every repeat_interval
    const d = await deployEnds(s, sha);
    expect(d.state, JSON.stringify(d)).to.equal('deployed');
    expect((await s.api('/api/tree/shop/main')).state).to.equal('open');
  });

  it('a replayed Alertmanager firing message (same fingerprint and startsAt) rolls nothing back; without the token: 401, nothing changes', async () => {
    const { repo, server: s } = await greengate({ stages: ['canary'], service: 'shop' });
    await cleanBaseline();
    const startsAt = new Date(Date.now() - 20_000).toISOString();
    const firing = { status: 'firing', labels: { alertname: 'HighErrors', service: 'shop' }, startsAt, fingerprint: 'h1' };
    await alertmanager(s, [firing]);
    await alertmanager(s, [{ ...firing, status: 'resolved', endsAt: new Date().toISOString() }]);
    const sha = repo.commit({ 'app.json': JSON.stringify({ errorRate: GOOD }) }, 'Lazy-load reviews');
    expect(repo.push().ok).to.equal(true);
    await pollUntil(async () => (await deployOf(s, sha))?.state === 'watching', 'the canary to be watched', 60_000, 50);
    const anonymous = await fetch(`${s.url}/api/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ alerts: [{ ...firing, startsAt: new Date().toISOString(), fingerprint: 'fresh' }] }) });
    expect(anonymous.status).to.equal(401);
    expect(await alertmanager(s, [firing])).to.deep.equal({ recorded: 0, ignored: 1 }); // the replay
    const d = await deployEnds(s, sha);
    expect(d.state, JSON.stringify(d)).to.equal('deployed');
    expect(d.revertState).to.equal('none');
    expect((await s.api('/api/tree/shop/main')).state).to.equal('open');
  });
});
