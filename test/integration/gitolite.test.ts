import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, CLI, RUNNER_TOKEN, ServerProcess, connectRunner, pollUntil, stopChild, tempHome } from '../helpers.js';

/**
 * docs/operations.md "gitolite" end to end: pushes over SSH through Debian's gitolite3. A gitolite
 * user (created here when missing; needs root) hosts the repository; sshd listens on 127.0.0.1 on a
 * free port with its own config and host key; two people (alice, bob: two SSH keys, so two
 * gitolite users) push through the one account. greengate's hooks are installed into the
 * gitolite-managed bare repository (gitolite only manages its own `update` hook), so the pusher the
 * hook reports is gitolite's GL_USER: the SSH key's name, not the shared account.
 */
const GITOLITE = '/usr/bin/gitolite';
const SSHD = '/usr/sbin/sshd';
const HOSTING = 'gg-t-gitolite';
const RUNNER_USER = 'gg-t-runner'; // as in unixUsers.test.ts: the runner is its own user, outside gitolite's group
const as = (user: string) => ['setpriv', '--reuid', user, '--regid', user, '--init-groups', '--'];
const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
const gidOf = (user: string) => Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const port = (s.address() as { port: number }).port; s.close(() => resolve(port)); });
  });
}

describe('pushes over SSH through gitolite (docs/operations.md "gitolite")', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess & { output: string };
  let sshd: ChildProcess | undefined;
  let sshdLog = '';
  let gl = ''; // the gitolite user's home
  let port = 0;

  /** Runs a command as the gitolite hosting user, with its HOME. */
  function asHosting(...argv: string[]): string {
    const r = spawnSync(as(HOSTING)[0], [...as(HOSTING).slice(1), ...argv], { cwd: gl, encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: gl } });
    if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stdout}${r.stderr}`);
    return `${r.stdout}${r.stderr}`;
  }
  /** git as a person whose SSH key is KEY (alice or bob), over SSH to the gitolite account. */
  function personGit(person: string, cwd: string, ...args: string[]): { ok: boolean; output: string } {
    const ssh = `ssh -i ${join(home.dir, person)} -p ${port} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    const name = person[0].toUpperCase() + person.slice(1);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home.dir, GIT_SSH_COMMAND: ssh, GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: `${person}@example.com`, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: `${person}@example.com` };
    const r = spawnSync('git', args, { cwd, encoding: 'utf8', env });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }
  const must = (person: string, cwd: string, ...args: string[]) => {
    const r = personGit(person, cwd, ...args);
    if (!r.ok) throw new Error(`${person}: git ${args.join(' ')}: ${r.output}\nsshd: ${sshdLog}`);
    return r.output.trim();
  };
  const clone = (person: string) => join(home.dir, `${person}-shop`);
  const commit = (person: string, file: string, text: string, message: string) => {
    writeFileSync(join(clone(person), file), text);
    must(person, clone(person), 'add', '-A');
    must(person, clone(person), 'commit', '--quiet', '-m', message);
    return must(person, clone(person), 'rev-parse', 'HEAD');
  };
  const push = (person: string) => personGit(person, clone(person), 'push', '--porcelain', 'origin', 'HEAD:refs/heads/main');
  const built = (sha: string) => pollUntil(async () => (await server.builds('repo=shop&limit=50')).find((b) => b.sha === sha && b.state === 'done'),
    `the build of ${sha.slice(0, 8)}`, 20_000);

  before(async function () {
    const missing = [GITOLITE, SSHD].filter((p) => !existsSync(p));
    if (missing.length) {
      console.log(`      skipped: ${missing.join(' and ')} missing (apt-get install gitolite3 openssh-server; .ci/run does)`);
      this.skip();
    }
    if (process.getuid?.() !== 0) {
      console.log('      skipped: creating the gitolite user and starting sshd need root (.ci/run runs as root)');
      this.skip();
    }
    home = tempHome('gg-gitolite-');
    chmodSync(home.dir, 0o755);
    gl = join(home.dir, 'gitolite');
    // The hosting account: a login shell (sshd runs gitolite-shell through it) and a password
    // field of "*" (not "!": without PAM, sshd refuses a locked account even for key logins).
    if (spawnSync('id', [HOSTING]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', HOSTING]);
    execFileSync('usermod', ['-d', gl, '-s', '/bin/sh', '-p', '*', HOSTING]);
    mkdirSync(gl, { mode: 0o755 });
    chownSync(gl, uidOf(HOSTING), gidOf(HOSTING));
    for (const key of ['admin', 'alice', 'bob']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', key, '-f', join(home.dir, key)]);
    copyFileSync(join(home.dir, 'admin.pub'), join(gl, 'admin.pub'));
    chownSync(join(gl, 'admin.pub'), uidOf(HOSTING), gidOf(HOSTING));
    asHosting(GITOLITE, 'setup', '-pk', join(gl, 'admin.pub'));
    // The server's user reads the repositories through gitolite's group (docs: UMASK 0027).
    const rc = join(gl, '.gitolite.rc');
    writeFileSync(rc, readFileSync(rc, 'utf8').replace(/UMASK(\s*)=>\s*0077/, 'UMASK$1=> 0027'));
    chmodSync(join(gl, 'repositories'), 0o750);
    // Two people, one repository: what an admin pushes to gitolite-admin (keydir/ and conf/),
    // written here into the server's copy and compiled with `gitolite setup`.
    const admin = join(gl, '.gitolite');
    for (const person of ['alice', 'bob']) copyFileSync(join(home.dir, `${person}.pub`), join(admin, 'keydir', `${person}.pub`));
    writeFileSync(join(admin, 'conf', 'gitolite.conf'), 'repo gitolite-admin\n    RW+ = admin\n\nrepo shop\n    RW+ = alice bob\n');
    execFileSync('chown', ['-R', `${HOSTING}:`, admin]);
    asHosting(GITOLITE, 'setup');
    const bare = join(gl, 'repositories', 'shop.git');
    expect(readFileSync(join(gl, '.ssh', 'authorized_keys'), 'utf8')).to.contain('gitolite-shell alice').and.contain('gitolite-shell bob');

    // sshd: 127.0.0.1 only, a free port, its own host key and config.
    port = await freePort();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home.dir, 'host_key')]);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    const sshdConfig = join(home.dir, 'sshd_config');
    writeFileSync(sshdConfig, [`ListenAddress 127.0.0.1`, `Port ${port}`, `HostKey ${join(home.dir, 'host_key')}`,
      `PidFile ${join(home.dir, 'sshd.pid')}`, 'UsePAM no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
      `AllowUsers ${HOSTING}`, `AuthorizedKeysFile ${join(gl, '.ssh', 'authorized_keys')}`, ''].join('\n'));
    sshd = spawn(SSHD, ['-D', '-e', '-f', sshdConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    sshd.stderr!.on('data', (d) => { sshdLog += d; });
    await pollUntil(() => /Server listening on 127\.0\.0\.1/.test(sshdLog) || (sshd!.exitCode !== null ? Promise.reject(new Error(`sshd exited: ${sshdLog}`)) : null),
      'sshd to listen');

    // The server (this test's user, root) reads the objects of a repository the gitolite user owns: git asks it to say so.
    const srv = join(home.dir, 'server');
    mkdirSync(srv);
    writeFileSync(join(srv, '.gitconfig'), `[safe]\n\tdirectory = ${bare}\n`);
    const config = join(srv, 'greengate.yml');
    writeFileSync(config, stringify({ port: 0, data: join(srv, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: bare, gate: ['main'], builders: [{ name: 'unit', run: 'test ! -e broken' }] }] }), { mode: 0o600 });
    server = new ServerProcess(config);
    server.env = { HOME: srv, GIT_CONFIG_GLOBAL: join(srv, '.gitconfig') };
    await server.start();
    if (spawnSync('id', [RUNNER_USER]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', RUNNER_USER]);
    const runnerHome = join(home.dir, 'runner');
    mkdirSync(runnerHome, { mode: 0o700 });
    chownSync(runnerHome, uidOf(RUNNER_USER), gidOf(RUNNER_USER));
    runner = await connectRunner(server, 'r1', runnerHome, { wrap: as(RUNNER_USER), work: join(runnerHome, 'work'), env: { HOME: runnerHome },
      args: ['--sandbox', 'bwrap'] });
    // The hooks are installed by the gitolite user into the gitolite-managed repository.
    const tokenFile = join(gl, 'admin-token');
    writeFileSync(tokenFile, ADMIN_TOKEN, { mode: 0o600 });
    chownSync(tokenFile, uidOf(HOSTING), gidOf(HOSTING));
    asHosting(process.execPath, CLI, 'hook', 'install', bare, '--server', server.url, '--admin-token-file', tokenFile);
    // gitolite leaves hooks other than its own `update` alone: a later `gitolite setup` keeps them.
    asHosting(GITOLITE, 'setup');
    expect(readFileSync(join(bare, 'hooks', 'pre-receive'), 'utf8')).to.contain('greengate');
    const secret = statSync(join(bare, 'greengate-hook-secret')); // every push runs as the gitolite user
    expect([secret.uid, secret.mode & 0o777]).to.deep.equal([uidOf(HOSTING), 0o600]);

    for (const person of ['alice', 'bob']) must(person, home.dir, 'clone', '--quiet', `ssh://${HOSTING}@127.0.0.1:${port}/shop`, clone(person));
  });
  after(async () => {
    await stopChild(runner);
    await stopChild(sshd);
    await server?.kill();
    home?.cleanup();
  });

  it('alice breaks the build, bob\'s push is refused naming the tree, alice\'s revert is accepted; history names them', async () => {
    must('alice', clone('alice'), 'checkout', '--quiet', '-B', 'main');
    const green = commit('alice', 'a.txt', 'fine', 'a fine change');
    const first = push('alice');
    expect(first.ok, first.output).to.equal(true);
    expect(first.output).to.contain('main: tree open, accepted');
    expect((await built(green)).result).to.equal('passed');

    const culprit = commit('alice', 'broken', 'yes', 'break the build');
    expect(push('alice').ok).to.equal(true);
    const red = await built(culprit);
    expect(red.result).to.equal('failed');
    await pollUntil(async () => (await server.api('/api/tree/shop/main')).state === 'closed', 'the tree to close');

    must('bob', clone('bob'), 'pull', '--quiet', 'origin', 'main');
    const bobs = commit('bob', 'b.txt', 'other', 'an unrelated change');
    const refused = push('bob');
    expect(refused.ok, refused.output).to.equal(false);
    expect(refused.output).to.contain('main').and.match(/CLOSED/);

    must('alice', clone('alice'), 'revert', '--no-edit', culprit);
    const revert = must('alice', clone('alice'), 'rev-parse', 'HEAD');
    const reverted = push('alice');
    expect(reverted.ok, reverted.output).to.equal(true);
    expect(reverted.output).to.contain('tree CLOSED, accepted');
    expect((await built(revert)).result).to.equal('passed');
    await pollUntil(async () => (await server.api('/api/tree/shop/main')).state === 'open', 'the tree to reopen');

    // The pusher is gitolite's user (the SSH key's name), never the shared hosting account.
    const builds = await server.builds('repo=shop&limit=50');
    expect(builds.some((b) => b.sha === bobs), 'bob\'s refused commit was never built').to.equal(false);

    // An admin closes the tree; bob gets through with a bypass, which the audit records as his.
    await server.api('/api/tree/shop/main', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'release freeze' }) });
    must('bob', clone('bob'), 'reset', '--quiet', '--hard', 'HEAD~1');
    must('bob', clone('bob'), 'pull', '--quiet', 'origin', 'main');
    commit('bob', 'c.txt', 'hotfix', 'a hotfix during the freeze');
    const bypass = personGit('bob', clone('bob'), 'push', '--porcelain', '-o', 'greengate.bypass=customer outage', 'origin', 'HEAD:refs/heads/main');
    expect(bypass.ok, bypass.output).to.equal(true);
    expect(bypass.output).to.contain('accepted by bypass');

    const { events } = await server.api<{ events: { kind: string; actor: string | null }[] }>('/api/tree-history/shop?branch=main');
    expect(events.find((e) => e.kind === 'revert')?.actor, JSON.stringify(events)).to.equal('alice');
    expect(events.find((e) => e.kind === 'bypass')?.actor, JSON.stringify(events)).to.equal('bob');
    expect(events.map((e) => e.actor)).to.not.include(HOSTING);
    const { passes } = await server.api<{ passes: { kind: string; actor: string }[] }>('/api/gate-passes/shop');
    expect(passes.map((p) => `${p.kind} ${p.actor}`)).to.have.members(['revert alice', 'bypass bob']);
  });
});
