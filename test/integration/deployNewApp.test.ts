import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../server/cli/demoApp.js';
import { ADMIN_TOKEN, CLI, RUNNER_TOKEN, Repo, ServerProcess, gitEnv, pollUntil, stopChild, tempHome } from '../helpers.js';

/**
 * A deploy stage whose `run` starts the app itself (a FIRST deploy to the host: nothing answered
 * on the port before) and ends at once, watched by scraping the app's /metrics page (real server
 * process, runner, bubblewrap, git, SQLite; the app a tiny node:http server counting its own
 * simulated requests as Prometheus counters). Before the fix the watch's first slice had no scrape
 * of the new process from before its start and the deploy was held "no data for errors after the
 * stage" unless a 1 s scrape happened to fall between the app's start and the stage's end.
 */
const WINDOW = 2; // seconds
const GOOD = 0.005;
const BAD = 0.2;

// The app: counts 1000 simulated requests a second (an error with probability argv[3]) and serves them as counters.
const APP = `const http = require('node:http');
const [port, rate] = [Number(process.argv[2]), Number(process.argv[3])];
let ok = 0, errors = 0;
setInterval(() => { for (let i = 0; i < 10; i++) { if (Math.random() < rate) errors++; else ok++; } }, 10);
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain; version=0.0.4');
  res.end('# TYPE http_requests_total counter\\nhttp_requests_total{status="200"} ' + ok + '\\nhttp_requests_total{status="500"} ' + errors + '\\n');
});
const listen = () => server.listen(port, '127.0.0.1');
server.on('error', (err) => { if (err.code === 'EADDRINUSE') setTimeout(listen, 20); else throw err; }); // the release before is still stopping
listen();
process.on('SIGTERM', () => process.exit(0));
`;

describe('deploy of an app the stage itself starts, watched by scraping it', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess | undefined;
  let runner: ChildProcess | undefined;
  let pidFile = '';

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill('SIGKILL');
    if (existsSync(pidFile)) try { process.kill(Number(readFileSync(pidFile, 'utf8').trim())); } catch { /* already gone */ }
    home?.cleanup();
  });

  /** A server and runner whose branch `main` deploys one stage that (re)starts the app at rate.txt's error rate and ends. */
  async function greengate(): Promise<{ repo: Repo; s: ServerProcess }> {
    home = tempHome('gg-deploy-new-app-');
    const repo = new Repo(home.dir);
    const port = await freePort();
    const app = join(home.dir, 'app.cjs');
    pidFile = join(home.dir, 'app.pid');
    writeFileSync(app, APP);
    const stop = `if [ -f ${pidFile} ]; then kill "$(cat ${pidFile})" 2>/dev/null || true; fi`;
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, stringify({
      port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }],
        deploy: { main: { stages: [{
          name: 'production',
          // Starts the release and ends at once: the app answers a few tens of milliseconds later.
          run: `${stop}; setsid ${process.execPath} ${app} ${port} "$(cat rate.txt)" >/dev/null 2>&1 </dev/null & echo $! > ${pidFile}`,
          rollback: stop,
          sandbox: { writable: [home.dir], keepProcesses: true },
          watch: { seconds: WINDOW, settleSeconds: 0.5, source: { scrape: `http://127.0.0.1:${port}/metrics`, interval: 1 },
            metrics: [{ name: 'errors', kind: 'ratio', errors: 'http_requests_total{status="500"}', total: 'http_requests_total' }] },
        }] } } }],
    }));
    const s = await new ServerProcess(file).start();
    server = s;
    runner = spawn(process.execPath, [CLI, 'runner', '--server', s.url, '--name', 'r1', '--slots', '1', '--work', join(home.dir, 'r1')],
      { env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: 'ignore' });
    await pollUntil(async () => (await s.api('/healthz')).runners === 1, 'the runner to connect');
    return { repo, s };
  }

  /** The deploy of `sha` once it ended or was held. */
  const settled = (s: ServerProcess, sha: string) => pollUntil(async () => {
    const d = (await s.api('/api/deploys')).deploys.find((x: any) => x.sha === sha);
    return d && (d.heldAt !== null || !['pending', 'running', 'watching', 'rolling_back'].includes(d.state)) ? d : null;
  }, `the deploy of ${sha.slice(0, 8)} to end or be held`, 40_000, 50);

  it('the first deploy, whose stage started the app: proceeds (counted from 0 at the stage\'s end), not held for "no data"', async () => {
    const { repo, s } = await greengate();
    const sha = repo.commit({ 'rate.txt': `${GOOD}\n` }, 'the app at 0.5 % errors');
    expect(repo.push().ok).to.equal(true);
    const d = await settled(s, sha);
    expect(d.holdReason, JSON.stringify(d)).to.equal(null);
    expect(d.state).to.equal('deployed');
    const errors = d.stages[0].verdict.evidence[0];
    expect(errors, JSON.stringify(d.stages[0].verdict)).to.include({ metric: 'errors', regression: false });
    expect(errors.before, 'nothing ran before it: judged on the window after alone').to.equal(null);
    expect(d.stages[0].verdict.inconclusive).to.equal(undefined);
  });

  it('the next release the stage starts counts 20 % errors: rolled back against the first one\'s counts', async () => {
    const { repo, s } = await greengate();
    const good = repo.commit({ 'rate.txt': `${GOOD}\n` }, 'the app at 0.5 % errors');
    expect(repo.push().ok).to.equal(true);
    expect((await settled(s, good)).state).to.equal('deployed');
    const bad = repo.commit({ 'rate.txt': `${BAD}\n` }, 'raise the error rate to 20 %');
    expect(repo.push().ok).to.equal(true);
    const d = await settled(s, bad);
    expect(d.state, JSON.stringify(d)).to.equal('rolled_back');
    const errors = d.stages[0].verdict.evidence[0];
    expect(errors, JSON.stringify(d.stages[0].verdict)).to.include({ metric: 'errors', regression: true });
    expect(errors.before).to.be.lessThan(0.02);
    expect(errors.after).to.be.greaterThan(0.1);
  });
});
