import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, CLI, RUNNER_TOKEN, ServerProcess, pollUntil, startRunner, stopChild, tempHome } from '../helpers.js';

/**
 * docs/operations.md "Users, groups and modes" end to end: the server, a runner and the pusher are
 * three Unix users (created here when missing; needs root). The repository is owned by the pusher
 * and shared with the group gg-git (git init --shared=group), the server's user is in that group
 * (it reads git objects), and the server authenticates the hooks with its own copy of the secret,
 * which `hook install --admin-token-file` gave it: it never reads the repository's secret file.
 */
const SERVER_USER = 'gg-t-server';
const RUNNER_USER = 'gg-t-runner';
const PUSHER = 'gg-t-pusher';
const GROUP = 'gg-t-git';

function ensureUsers(): void {
  if (spawnSync('getent', ['group', GROUP]).status !== 0) execFileSync('groupadd', ['--system', GROUP]);
  for (const [user, groups] of [[SERVER_USER, GROUP], [RUNNER_USER, ''], [PUSHER, GROUP]]) {
    if (spawnSync('id', [user]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
    if (groups) execFileSync('usermod', ['-a', '-G', groups, user]);
  }
}
const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
const gidOf = (user: string) => Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
/** The server's copy of a repository's hook secret (docs/operations.md: <data>/hook-secrets/NAME). */
const serverSecretPath = (data: string, repo: string) => join(data, 'hook-secrets', repo);
const as = (user: string) => ['setpriv', '--reuid', user, '--regid', user, '--init-groups', '--'];

describe('three Unix users: server, runner and pusher (docs/operations.md "Users, groups and modes")', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess & { output: string };
  let bare = '';
  let work = '';
  let pusherHome = '';

  /** Runs a command as the pusher, in `cwd`, with the pusher's HOME. */
  function asPusher(cwd: string, cmd: string, ...args: string[]): { ok: boolean; output: string } {
    const r = spawnSync(as(PUSHER)[0], [...as(PUSHER).slice(1), cmd, ...args], { cwd, encoding: 'utf8', env: {
      PATH: process.env.PATH, HOME: pusherHome, GIT_AUTHOR_NAME: 'Pat Pusher', GIT_AUTHOR_EMAIL: 'pat@example.com',
      GIT_COMMITTER_NAME: 'Pat Pusher', GIT_COMMITTER_EMAIL: 'pat@example.com', GREENGATE_ADMIN_TOKEN: '' } });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }
  function pusherGit(...args: string[]): string {
    const r = asPusher(work, 'git', ...args);
    if (!r.ok) throw new Error(`git ${args.join(' ')}: ${r.output}`);
    return r.output.trim();
  }
  const commit = (file: string, text: string, message: string) => {
    writeFileSync(join(work, file), text);
    chownSync(join(work, file), uidOf(PUSHER), gidOf(PUSHER));
    pusherGit('add', '-A');
    pusherGit('commit', '--quiet', '-m', message);
    return pusherGit('rev-parse', 'HEAD');
  };
  const push = () => asPusher(work, 'git', 'push', '--porcelain', 'origin', 'HEAD:refs/heads/main');
  const tree = () => server.api('/api/tree/shop/main');
  const built = (sha: string) => pollUntil(async () => (await server.builds('repo=shop&limit=50')).find((b) => b.sha === sha && b.state === 'done'),
    `the build of ${sha.slice(0, 8)}`, 30_000);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // creating users and switching to them needs root (.ci/run runs as root)
    ensureUsers();
    home = tempHome('gg-users-');
    chmodSync(home.dir, 0o755);
    const dir = (path: string, user: string, mode = 0o700) => {
      mkdirSync(path, { recursive: true });
      chownSync(path, uidOf(user), gidOf(user));
      chmodSync(path, mode);
      return path;
    };
    const srv = dir(join(home.dir, 'server'), SERVER_USER);
    pusherHome = dir(join(home.dir, 'pusher'), PUSHER, 0o755);
    const runnerHome = dir(join(home.dir, 'runner'), RUNNER_USER);
    const gitRoot = dir(join(home.dir, 'git'), PUSHER, 0o755);
    bare = join(gitRoot, 'shop.git');
    work = join(pusherHome, 'shop');
    expect(asPusher(gitRoot, 'git', 'init', '--quiet', '--bare', '--shared=group', '--initial-branch=main', bare).ok).to.equal(true);
    execFileSync('chgrp', ['-R', GROUP, bare]);
    expect(asPusher(pusherHome, 'git', 'clone', '--quiet', bare, work).ok).to.equal(true);
    pusherGit('checkout', '--quiet', '-B', 'main');
    // The server's user reads git objects of a repository another user owns: git asks it to say so.
    writeFileSync(join(srv, '.gitconfig'), `[safe]\n\tdirectory = ${bare}\n`);
    chownSync(join(srv, '.gitconfig'), uidOf(SERVER_USER), gidOf(SERVER_USER));
    const config = join(srv, 'greengate.yml');
    writeFileSync(config, stringify({ port: 0, data: join(srv, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: bare, gate: ['main'], builders: [{ name: 'unit', run: 'test ! -e broken' }] }] }), { mode: 0o600 });
    chownSync(config, uidOf(SERVER_USER), gidOf(SERVER_USER));
    server = new ServerProcess(config);
    server.wrap = as(SERVER_USER);
    server.env = { HOME: srv };
    await server.start();
    // Units run in bubblewrap as the runner's (unprivileged) user: bwrap needs unprivileged user namespaces.
    runner = startRunner(server.url, 'r1', runnerHome, { wrap: as(RUNNER_USER), work: join(runnerHome, 'work'), env: { HOME: runnerHome },
      args: ['--sandbox', 'bwrap'] });
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    const tokenFile = join(pusherHome, 'admin-token');
    writeFileSync(tokenFile, ADMIN_TOKEN, { mode: 0o600 });
    chownSync(tokenFile, uidOf(PUSHER), gidOf(PUSHER));
    const install = asPusher(pusherHome, process.execPath, CLI, 'hook', 'install', bare, '--server', server.url, '--admin-token-file', tokenFile);
    expect(install.ok, install.output).to.equal(true);
    expect(install.output).to.contain('mode 640').and.contain('the server now keeps its own copy');
  });
  after(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  it('the hook\'s copy is the pusher\'s and the group\'s (0640); the server\'s copy is its own (0600)', () => {
    const hookCopy = statSync(join(bare, 'greengate-hook-secret'));
    expect(hookCopy.mode & 0o777).to.equal(0o640);
    expect(hookCopy.uid).to.equal(uidOf(PUSHER));
    expect(hookCopy.gid).to.equal(Number(execFileSync('getent', ['group', GROUP], { encoding: 'utf8' }).split(':')[2]));
    const own = statSync(serverSecretPath(join(home.dir, 'server', 'data'), 'shop'));
    expect(own.mode & 0o777).to.equal(0o600);
    expect(own.uid).to.equal(uidOf(SERVER_USER));
  });

  it('PUT /api/repos/:repo/hook-secret without the admin token is refused and changes nothing', async () => {
    const own = serverSecretPath(join(home.dir, 'server', 'data'), 'shop');
    const before = statSync(own).mtimeMs;
    const res = await fetch(`${server.url}/api/repos/shop/hook-secret`, { method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: 'a'.repeat(64) }) });
    expect(res.status).to.equal(401);
    expect(statSync(own).mtimeMs).to.equal(before);
  });

  it('hook install refuses a secret file another user owns, naming the file, its owner and mode and the fix, and changes nothing', async () => {
    const other = join(home.dir, 'git', 'other.git');
    expect(asPusher(join(home.dir, 'git'), 'git', 'init', '--quiet', '--bare', '--shared=group', other).ok).to.equal(true);
    const file = join(other, 'greengate-hook-secret');
    writeFileSync(file, `X-Greengate-Hook-Secret: ${'e'.repeat(64)}\n`, { mode: 0o600 });
    chownSync(file, uidOf(RUNNER_USER), gidOf(RUNNER_USER));
    const r = asPusher(home.dir, process.execPath, CLI, 'hook', 'install', other, '--server', server.url, '--repo', 'shop');
    expect(r.ok, r.output).to.equal(false);
    expect(r.output).to.contain(`${file} belongs to uid ${uidOf(RUNNER_USER)} (mode 600), not to uid ${uidOf(PUSHER)}`)
      .and.contain('run the install as');
    expect(spawnSync('test', ['-e', join(other, 'hooks', 'pre-receive')]).status, 'no hook written').to.not.equal(0);
  });

  let culprit = '';
  it('a green push lands, a red build closes the tree, the next push is refused, and a revert gets through', async () => {
    const green = commit('a.txt', 'fine', 'a fine change');
    const first = push();
    expect(first.ok, first.output).to.equal(true);
    expect(first.output).to.contain('tree open, accepted');
    expect((await built(green)).result).to.equal('passed');

    culprit = commit('broken', 'yes', 'break the build');
    expect(push().ok).to.equal(true);
    expect((await built(culprit)).result).to.equal('failed');
    await pollUntil(async () => (await tree()).state === 'closed', 'the tree to close');

    commit('b.txt', 'other', 'an unrelated change');
    const refused = push();
    expect(refused.ok, refused.output).to.equal(false);
    expect(refused.output).to.match(/CLOSED/);
    pusherGit('reset', '--quiet', '--hard', 'HEAD~1');

    pusherGit('revert', '--no-edit', culprit);
    const revert = pusherGit('rev-parse', 'HEAD');
    const reverted = push();
    expect(reverted.ok, reverted.output).to.equal(true);
    expect((await built(revert)).result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
  });
});
