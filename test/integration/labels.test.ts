import { expect } from 'chai';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import {
  ADMIN_TOKEN, CLI, RUNNER_TOKEN, Repo, ServerProcess, gitEnv, pollUntil, startRunner, stopChild, tempHome,
} from '../helpers.js';

describe('runner labels and runsOn (real server and runners)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  const runners: ChildProcess[] = [];

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => stopChild(r)));
    await server?.kill();
    home?.cleanup();
  });

  it('refuses a malformed --label at once, saying how to write one', () => {
    const r = spawnSync(process.execPath, [CLI, 'runner', '--server', 'http://127.0.0.1:9', '--label', 'os linux'], {
      encoding: 'utf8', env: { ...gitEnv(), GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN },
    });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('--label "os linux" is not key=value').and.contain('e.g. --label os=linux');
    const twice = spawnSync(process.execPath, [CLI, 'runner', '--server', 'http://127.0.0.1:9', '--label', 'os=a', '--label', 'os=b'], {
      encoding: 'utf8', env: { ...gitEnv(), GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN },
    });
    expect(twice.status).to.equal(2);
    expect(twice.stderr).to.contain('--label os is given twice');
  });

  it('waits, saying why, until a runner with the builder\'s labels connects, and never gives it to another', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, stringify({
      port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [
        { name: 'linux', run: 'echo "ran on $GREENGATE_RUNNER"', runsOn: { os: 'linux', arch: 'arm64' } },
      ] }],
    }));
    server = await new ServerProcess(file).start();
    const start = (name: string) => {
      const r = startRunner(server.url, name, home.dir);
      runners.push(r);
      return r;
    };
    // startRunner takes no labels: spawn labelled runners through the CLI flags directly.
    const { spawn } = await import('node:child_process');
    const labelled = (name: string, labels: string[]) => {
      const child = spawn(process.execPath, [CLI, 'runner', '--server', server.url, '--name', name, '--work', join(home.dir, 'runners', name),
        ...labels.flatMap((l) => ['--label', l])], { env: { ...gitEnv(), GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }, stdio: 'ignore' });
      runners.push(child);
      return child;
    };
    start('plain');
    labelled('mac', ['os=mac', 'arch=arm64']);
    await pollUntil(async () => (await server.api('/healthz')).runners === 2, 'two runners to connect');

    repo.commit({ 'a.txt': 'a' }, 'first');
    repo.push();
    const build = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'a build');
    const waiting = await pollUntil(async () => (await server.build(build.id)).waiting, 'the build to say why it waits');
    expect(waiting).to.equal('waiting: no connected runner has os=linux, arch=arm64');
    const page = await server.api<string>(`/builds/${build.id}`);
    expect(page).to.contain('waiting: no connected runner has os=linux, arch=arm64');
    expect((await server.build(build.id)).state).to.equal('queued');

    labelled('pi', ['os=linux', 'arch=arm64', 'room=lab-2']);
    const done = await server.waitForBuild(build.id, 60_000);
    expect(done.result).to.equal('passed');
    expect(done.waiting).to.equal(null);
    expect(done.units.map((u: any) => u.runner)).to.deep.equal(['pi']);
    expect(await server.api(`/api/builds/${build.id}/log`)).to.contain('ran on pi');

    const runnersPage = await server.api<string>('/runners');
    const row = /<tr[^>]*data-runner="pi"[\s\S]*?<\/tr>/.exec(runnersPage)?.[0] ?? '';
    expect(row).to.contain('os=linux').and.contain('arch=arm64').and.contain('room=lab-2');
  });
});
