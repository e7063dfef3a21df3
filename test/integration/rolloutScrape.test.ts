import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../server/cli/demoApp.js';
import { installHooks } from '../../server/gate/hookInstall.js';
import { ROOT, Repo, ServerProcess, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';

/**
 * A guarded rollout whose source is the app itself (`source: { scrape: URL }`, no Prometheus): a
 * greengate server process serving a pushed flags.json; the app (flagApp.ts) asks greengate over
 * OFREP which variant each random user gets and counts requests by flag, variant and status on its
 * /metrics, which greengate scrapes every 0.5 s. bad-checkout's new variant fails 30 % of the time:
 * the immune system kills it mid-ramp, and the kill has an open Five Whys record on the flag page.
 */
const APP_JS = join(ROOT, 'dist', 'test', 'integration', 'flagApp.js');
const FLAGS_TOKEN = 'shop-flags-token-0123456789';
const FLAGS = JSON.stringify({ flags: {
  'bad-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
} });

describe('guarded rollouts read from a scraped /metrics page (source: { scrape })', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let app: ChildProcess | undefined;

  before(async () => {
    home = tempHome('gg-rollout-scrape-');
    const repo = new Repo(home.dir);
    const appPort = await freePort();
    const rollout = { variant: 'on', steps: [20, 50, 100], hold: 2, minSample: 20, alpha: 0.001, maxIncrease: 1.5,
      source: { scrape: `http://127.0.0.1:${appPort}/metrics`, interval: 0.5 },
      metrics: [{ name: 'errors', kind: 'ratio', errors: 'app_requests_total{status="500"}', total: 'app_requests_total' }] };
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }],
      flags: { file: 'flags.json', token: FLAGS_TOKEN, rollouts: { 'bad-checkout': rollout } } } as Parameters<typeof writeConfig>[1][number]]);
    server = await new ServerProcess(config).start();
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    repo.commit({ 'flags.json': FLAGS }, 'a flag to ramp');
    const pushed = repo.push();
    expect(pushed.ok, pushed.output).to.equal(true);
    app = spawn(process.execPath, [APP_JS, JSON.stringify({ greengate: server.url, token: FLAGS_TOKEN, rps: 150, port: appPort,
      errorRates: { 'bad-checkout': { on: 0.3, off: 0.005 } } })], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    app.stdout!.on('data', (d) => { out += d; });
    await pollUntil(() => /listening (http:\/\/\S+)/.exec(out), 'the app to listen', 15_000);
  });

  after(async () => {
    app?.stdin?.end();
    await stopChild(app);
    await server?.kill();
    home?.cleanup();
  });

  it('kills the bad variant mid-ramp on what greengate scraped from the app (actor "immune system", the evidence)', async () => {
    let last: any = null;
    const bad = await pollUntil(async () => {
      last = await server.api('/api/flags/shop/bad-checkout/rollout');
      return last.state === 'killed' ? last : null;
    }, 'bad-checkout to be killed', 40_000, 200).catch((err: Error) => { throw new Error(`${err.message}; ${JSON.stringify({ ...last, points: last?.points.slice(-4) })}`); });
    expect(bad.percent).to.be.below(100);
    expect(bad.reason).to.match(/^guarded rollout at (20|50) %: errors .* on on \(p = /);
    expect(bad.points.at(-1).decision).to.equal('kill');
    const history = await server.api('/api/flags/shop/bad-checkout/history');
    expect(history.events[0]).to.include({ action: 'kill', actor: 'immune system' });
    // the kill opens a Five Whys record on the flag page (public to read; the form needs an admin session)
    const page = await (await fetch(`${server.url}/flags/shop/bad-checkout`)).text();
    expect(page).to.match(/<tr id="kill-\d+" class="kill">.*immune system.*\n?.*open: nobody has written why yet/s);
    expect(page).not.to.contain('whys-form');
  });
});
