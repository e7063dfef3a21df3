import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, CLI, RUNNER_TOKEN, Repo, ServerProcess, gitEnv, pollUntil, stopChild, tempHome } from '../helpers.js';

/**
 * A deploy across a SIGKILL of the server mid-watch (real server process, runner, git, SQLite):
 * after the restart the stage watches again and the deploy goes on to the end; no step runs twice.
 */
describe('deploys across a server SIGKILL (real processes)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess | undefined;
  const app = { server: null as Server | null, url: '' };

  before(async () => {
    // The deployed service's /metrics page (Prometheus text), for a watcher that scrapes it.
    app.server = createServer((_req, res) => { res.setHeader('content-type', 'text/plain; version=0.0.4'); res.end('# TYPE up gauge\nup 1\n'); });
    await new Promise<void>((r) => app.server!.listen(0, '127.0.0.1', () => r()));
    app.url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(() => { app.server?.close(); });

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill('SIGKILL');
    home?.cleanup();
  });

  it('resumes the watch after a SIGKILL mid-watch and finishes the deploy, each step run once', async () => {
    home = tempHome('gg-deploy-kill-');
    const repo = new Repo(home.dir);
    const marks = join(home.dir, 'marks.txt');
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, stringify({
      port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }],
        deploy: { main: { stages: ['canary', 'production'].map((name) => ({
          name, run: `echo "deploy ${name}" >> ${marks}`, rollback: `echo "rollback ${name}" >> ${marks}`,
          sandbox: { writable: [home.dir] }, // the marks file, outside the workspace
          watch: { seconds: 4, source: { scrape: `${app.url}/metrics`, interval: 1 }, metrics: [] }, // whichever watcher is wired: nothing to compare
        })) } } }],
    }));
    server = await new ServerProcess(file).start();
    runner = spawn(process.execPath, [CLI, 'runner', '--server', server.url, '--name', 'r1', '--slots', '1', '--work', join(home.dir, 'r1')],
      { env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: 'ignore' });
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    const sha = repo.commit({ 'a.txt': 'a' }, 'change');
    repo.push();
    const deployOf = async () => (await server.api('/api/deploys')).deploys.find((d: any) => d.sha === sha);
    await pollUntil(async () => (await deployOf())?.state === 'watching', 'the canary to be watched', 60_000, 50);

    await server.kill('SIGKILL');
    await server.start();
    const d = await pollUntil(async () => { const x = await deployOf(); return x?.state === 'deployed' ? x : null; },
      'the deploy to finish after the restart', 60_000, 100);
    expect(d.stages.map((s: any) => s.state)).to.deep.equal(['deployed', 'deployed']);
    expect(d.stages[0].watchStartedAt).to.be.a('number');
    const lines = existsSync(marks) ? readFileSync(marks, 'utf8').trim().split('\n') : [];
    expect(lines).to.deep.equal(['deploy canary', 'deploy production']);
  });
});
