import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLI, RUNNER_TOKEN, Repo, ServerProcess, git, gitEnv, pollUntil, stopChild, tempHome, writeConfig,
} from '../helpers.js';

/** Whether this process may give a child its own mount namespace (root, or a user namespace allowed). */
function canHideFiles(): boolean {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * A runner that cannot see `hidden`: its own mount namespace with an empty tmpfs over that
 * folder. It gets the server's URL and, in its environment, the token — nothing else.
 */
function startIsolatedRunner(server: string, name: string, work: string, hidden: string): ChildProcess & { output: string } {
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"', 'sh',
    hidden, process.execPath, CLI, 'runner', '--server', server, '--name', name, '--work', work], {
    env: { ...gitEnv(), GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }, stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { output: string };
  child.output = '';
  child.stdout!.on('data', (d) => { child.output += d; });
  child.stderr!.on('data', (d) => { child.output += d; });
  return child;
}

describe('a runner that cannot see the server\'s files (code over HTTP)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess | undefined;
  let runner: ChildProcess | undefined;

  before(function () {
    if (!canHideFiles()) {
      console.log('      SKIPPED: this process may not create a mount namespace (`unshare --mount` needs root or user namespaces); ' +
        'run the tests as root or with unprivileged user namespaces enabled to prove isolated runners');
      this.skip();
    }
  });
  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  it('builds pushes with only the server URL and the token, the server\'s repository and data hidden from it', async () => {
    home = tempHome();
    const serverHome = join(home.dir, 'server');
    mkdirSync(serverHome);
    const repo = new Repo(serverHome);
    const data = join(serverHome, 'data');
    // The build itself checks that the runner cannot see the server's side.
    const run = `test ! -e '${repo.bare}' && test ! -e '${data}' && sh ./check.sh`;
    server = await new ServerProcess(writeConfig(serverHome, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run, timeout: 60 }] }])).start();
    runner = startIsolatedRunner(server.url, 'far', join(home.dir, 'runner'), serverHome);
    await pollUntil(async () => (await server!.api('/healthz')).runners >= 1, 'the isolated runner to connect', 20_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n${(runner as ChildProcess & { output: string }).output}`); });

    repo.commit({ 'check.sh': 'echo "built far away"\n' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const first = await pollUntil(async () => (await server!.builds('repo=shop'))[0], 'a build');
    const done = await server.waitForBuild(first.id, 60_000);
    expect(done.result, JSON.stringify(done.units)).to.equal('passed');
    expect(await server.api(`/api/builds/${done.id}/log`)).to.contain('built far away');

    repo.commit({ 'check.sh': 'echo "second build"\nexit 3\n' }, 'second');
    repo.push();
    const next = await pollUntil(async () => (await server!.builds('repo=shop')).find((b) => b.id > done.id), 'a second build');
    const red = await server.waitForBuild(next.id, 60_000);
    expect(red.result).to.equal('failed');
    expect(red.units.at(-1).exitCode).to.equal(3);
    expect(await server.api(`/api/builds/${red.id}/log`)).to.contain('second build');
    // Its mirror got both commits over HTTP: no borrowed objects.
    const mirror = join(home.dir, 'runner', 'mirrors', 'shop.git');
    expect(git(mirror, 'cat-file', '-t', red.sha)).to.equal('commit');
    expect(existsSync(join(mirror, 'objects', 'info', 'alternates'))).to.equal(false);
  });
});
