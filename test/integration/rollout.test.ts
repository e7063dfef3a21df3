import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../server/cli/demoApp.js';
import { installHooks } from '../../server/gate/hookInstall.js';
import { ADMIN_TOKEN, ROOT, Repo, ServerProcess, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';

/**
 * Guarded rollouts end to end, every part real: a greengate server process serving two flags from a
 * pushed flags.json, each with a rollout in greengate.yml (10 → 50 → 100 %, 3 s holds); an app process
 * (flagApp.ts) that asks greengate over OFREP which variant each random user gets and counts its
 * requests by flag, variant and status; Debian's Prometheus scraping the app every second, which the
 * rollouts read. good-checkout's new variant fails as often as the old (0.5 %); bad-checkout's fails
 * 30 % of the time; srm-checkout's app counts only 30 % of the new variant's requests (a sample-ratio
 * mismatch). The server is SIGKILLed mid-ramp and restarted.
 */
const PROMETHEUS = '/usr/bin/prometheus';
const APP_JS = join(ROOT, 'dist', 'test', 'integration', 'flagApp.js');
const FLAGS_TOKEN = 'shop-flags-token-0123456789';
const FLAGS = JSON.stringify({ flags: {
  'good-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
  'bad-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 0], ['off', 100]] } },
  'srm-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
} });

describe('guarded rollouts (Prometheus, the app, server, git)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let app: ChildProcess | undefined;
  let prometheus: ChildProcess | undefined;

  before(async () => {
    expect(existsSync(PROMETHEUS), `${PROMETHEUS} is missing (apt-get install prometheus)`).to.equal(true);
    home = tempHome('gg-rollout-');
    const repo = new Repo(home.dir);
    const promPort = await freePort();
    const rollout = { variant: 'on', steps: [10, 50, 100], hold: 3, minSample: 20, alpha: 0.001, maxIncrease: 1.5,
      source: { prometheus: `http://127.0.0.1:${promPort}` },
      metrics: [{ name: 'errors', kind: 'ratio', errors: 'app_requests_total{status="500"}', total: 'app_requests_total' }] };
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: FLAGS_TOKEN, rollouts: { 'good-checkout': rollout, 'bad-checkout': rollout, 'srm-checkout': rollout } } } as Parameters<typeof writeConfig>[1][number]]);
    server = await new ServerProcess(config).start();
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    repo.commit({ 'flags.json': FLAGS }, 'two flags to ramp');
    const pushed = repo.push();
    expect(pushed.ok, pushed.output).to.equal(true);
    app = spawn(process.execPath, [APP_JS, JSON.stringify({ greengate: server.url, token: FLAGS_TOKEN, rps: 150,
      errorRates: { 'good-checkout': { on: 0.005, off: 0.005 }, 'bad-checkout': { on: 0.3, off: 0.005 }, 'srm-checkout': { on: 0.005, off: 0.005 } },
      uncounted: { 'srm-checkout': { on: 0.7 } } })], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    app.stdout!.on('data', (d) => { out += d; });
    const appUrl = (await pollUntil(() => /listening (http:\/\/\S+)/.exec(out), 'the app to listen', 15_000))[1];
    writeFileSync(join(home.dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: app\n    static_configs: [{ targets: ['${new URL(appUrl).host}'] }]\n`);
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(home.dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(home.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  });

  after(async () => {
    app?.stdin?.end();
    await stopChild(app);
    await stopChild(prometheus);
    await server?.kill();
    home?.cleanup();
  });

  const rolloutOf = (key: string) => server.api(`/api/flags/shop/${key}/rollout`);
  /** Waits for a rollout to reach a state; a timeout says where it is (state, reason, its last points). */
  const waitFor = async (key: string, ok: (r: any) => boolean, what: string, ms = 60_000): Promise<any> => {
    let last: any = null;
    try {
      return await pollUntil(async () => { last = await rolloutOf(key); return ok(last) ? last : null; }, what, ms, 200);
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${key} is ${JSON.stringify({ ...last, points: last?.points.slice(-4) })}`);
    }
  };
  const variantOf = async (key: string, targetingKey: string) => {
    const res = await fetch(`${server.url}/ofrep/v1/evaluate/flags/${key}`, { method: 'POST',
      headers: { authorization: `Bearer ${FLAGS_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ context: { targetingKey } }) });
    return ((await res.json()) as { variant?: string }).variant;
  };
  // 150 probes: evaluated at once within one 3 s hold even on a loaded machine (400 once took longer than the hold)
  const USERS = Array.from({ length: 150 }, (_, i) => `probe-${i}`);

  it('kills the bad variant mid-ramp (actor "immune system", the evidence), completes the good one, and a SIGKILL mid-ramp resumes at the stored step', async () => {
    // The good flag reaches 50 %: who had it at 10 % keeps it.
    const at10 = await pollUntil(async () => {
      const r = await rolloutOf('good-checkout');
      return r.percent === 10 ? Promise.all(USERS.map((u) => variantOf('good-checkout', u))) : null;
    }, 'good-checkout at 10 %', 20_000, 100);
    await waitFor('good-checkout', (r) => r.percent === 50, 'good-checkout to advance to 50 %');
    const onAt10 = USERS.filter((_, i) => at10[i] === 'on');
    expect(onAt10.length).to.be.within(4, 35); // about 15 of 150 at 10 %

    await server.kill('SIGKILL');
    await server.start();
    const resumed = await rolloutOf('good-checkout');
    expect(resumed.percent, JSON.stringify(resumed)).to.be.at.least(50); // not back at the first step
    for (const u of onAt10) expect(await variantOf('good-checkout', u), `${u} lost the feature`).to.equal('on');

    const bad = await waitFor('bad-checkout', (r) => r.state === 'killed', 'bad-checkout to be killed');
    expect(bad.reason).to.match(/guarded rollout at (10|50) %: errors .* on on \(p = /);
    expect(bad.points.at(-1).decision).to.equal('kill');
    const history = await server.api('/api/flags/shop/bad-checkout/history');
    expect(history.events[0]).to.include({ action: 'kill', actor: 'immune system' });
    for (const u of USERS.slice(0, 50)) expect(await variantOf('bad-checkout', u)).to.equal('off'); // the defaultVariant, for everyone
    const restored = await fetch(`${server.url}/api/flags/shop/bad-checkout/restore`, { method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'fixed, ramp again' }) });
    expect(restored.status).to.equal(200);
    const resumedBad = await pollUntil(async () => { const r = await rolloutOf('bad-checkout'); return r.state === 'ramping' ? r : null; }, 'the restored rollout to resume', 10_000, 100);
    expect(resumedBad.reason).to.match(/^resumed at (10|50) % after the flag was restored$/);

    const good = await waitFor('good-checkout', (r) => r.state === 'done', 'good-checkout to complete');
    expect(good.percent).to.equal(100);
    expect(good.points.map((p: { decision: string }) => p.decision)).to.include('advance');
    for (const u of USERS.slice(0, 50)) expect(await variantOf('good-checkout', u)).to.equal('on');
    const page = await (await fetch(`${server.url}/flags/shop/bad-checkout`)).text();
    expect(page).to.contain('Guarded rollout').and.to.contain('class="rollout-chart"').and.to.contain('class="decision kill"');
  });

  it('holds a ramp whose exposures do not match its share (χ² p < 0.001): not advanced, not killed', async () => {
    const held = await waitFor('srm-checkout', (r) => r.state === 'held', 'srm-checkout to be held');
    expect(held.percent).to.equal(10);
    expect(held.reason).to.match(/^sample-ratio mismatch: \d+ exposures of on against \d+ others at 10 % \(χ² p = .* < 0.001\)/);
    expect(held.points.at(-1).decision).to.equal('hold');
    expect((await server.api('/api/flags/shop/srm-checkout/history')).events).to.deep.equal([]);
  });

  it('GET /api/flags/:repo/:key/rollout answers without credentials (public, like the history) and shows no token; an unknown rollout is a 404', async () => {
    const res = await fetch(`${server.url}/api/flags/shop/good-checkout/rollout`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.not.contain(FLAGS_TOKEN);
    expect(JSON.parse(text)).to.include({ key: 'good-checkout', variant: 'on' });
    const missing = await fetch(`${server.url}/api/flags/shop/no-such-flag/rollout`);
    expect(missing.status).to.equal(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).to.equal('GG_FLAG_NOT_FOUND');
  });
});
