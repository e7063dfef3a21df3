import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT, pollUntil, tempHome } from '../helpers.js';

/**
 * docs/operations.md's install steps, verbatim, gate a push: the test extracts every ```sh block
 * marked `<!-- ops:install -->` from the doc, in order, into one script, sets only the variables
 * the doc names at the top of "Install" (GG_HOME, GG_ETC, … pointing at a temporary root and this
 * test's own users), runs it as root, then pushes as the pushing user: a green push is accepted, a
 * red build closes the tree, and the next push is refused. The machine has no sudo: the script
 * gets a `sudo` function doing the same with runuser (the doc's steps themselves are unchanged).
 */
const SERVER_USER = 'gg-o-server';
const RUNNER_USER = 'gg-o-runner';
const PUSHER = 'gg-o-pusher';
const GROUP = 'gg-o-git';

const exists = (db: 'passwd' | 'group', name: string) => spawnSync('getent', [db, name]).status === 0;
const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
const gidOf = (user: string) => Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));

/** The doc's marked shell blocks, in order. */
function installBlocks(doc: string): string[] {
  return [...doc.matchAll(/<!-- ops:install -->\n```sh\n([\s\S]*?)\n```/g)].map((m) => m[1]);
}

const SUDO_SHIM = `if ! command -v sudo >/dev/null 2>&1; then
  sudo() { # root already: -u USER runs as USER (with USER's HOME, as sudo -H), else as root
    user=root
    while [ $# -gt 0 ]; do case "$1" in -u) user=$2; shift 2;; -H) shift;; *) break;; esac; done
    if [ "$user" = root ]; then "$@"; else runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" "$@"; fi
  }
fi`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Live processes of these uids (from /proc), to end what the script started in the background. */
function processesOf(uids: number[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))![1]);
      if (uids.includes(uid)) pids.push(Number(entry));
    } catch { /* ended meanwhile */ }
  }
  return pids;
}

function removeUsers(): void {
  for (const user of [SERVER_USER, RUNNER_USER, PUSHER]) if (exists('passwd', user)) execFileSync('userdel', [user]);
  for (const group of [GROUP, SERVER_USER, RUNNER_USER, PUSHER]) if (exists('group', group)) execFileSync('groupdel', [group]);
}

describe('docs/operations.md install steps, run verbatim as one script, gate a push', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let root = '';
  let port = 0;
  let work = '';
  let pusherHome = '';
  let scriptPid = 0;
  let log = '';

  function asPusher(cwd: string, ...args: string[]): { ok: boolean; output: string } {
    const r = spawnSync('setpriv', ['--reuid', PUSHER, '--regid', PUSHER, '--init-groups', '--', ...args], { cwd, encoding: 'utf8', env: {
      PATH: process.env.PATH, HOME: pusherHome, GIT_AUTHOR_NAME: 'Pat Pusher', GIT_AUTHOR_EMAIL: 'pat@example.com',
      GIT_COMMITTER_NAME: 'Pat Pusher', GIT_COMMITTER_EMAIL: 'pat@example.com' } });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }
  function pusherGit(...args: string[]): string {
    const r = asPusher(work, 'git', ...args);
    if (!r.ok) throw new Error(`git ${args.join(' ')}: ${r.output}`);
    return r.output.trim();
  }
  const commit = (files: Record<string, string>, message: string) => {
    for (const [file, text] of Object.entries(files)) {
      writeFileSync(join(work, file), text, { mode: 0o755 });
      chownSync(join(work, file), uidOf(PUSHER), gidOf(PUSHER));
    }
    pusherGit('add', '-A');
    pusherGit('commit', '--quiet', '-m', message);
    return pusherGit('rev-parse', 'HEAD');
  };
  const push = () => asPusher(work, 'git', 'push', '--porcelain', 'origin', 'HEAD:refs/heads/main');
  const api = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).json() as Promise<any>;
  const built = (sha: string) => pollUntil(async () => (await api('/api/builds?repo=shop&limit=50')).builds
    .find((b: any) => b.sha === sha && b.state === 'done'), `the build of ${sha.slice(0, 8)}`, 40_000);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // users, runuser and setpriv need root (.ci/run runs as root)
    removeUsers(); // left by an earlier run that was killed
    home = tempHome('gg-opsdoc-');
    root = home.dir;
    chmodSync(root, 0o755);
    for (const d of ['bin', 'home', 'etc', 'var/lib', 'srv']) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
    pusherHome = join(root, 'home', 'pusher');
    execFileSync('useradd', ['--user-group', '--create-home', '--home-dir', pusherHome, '--shell', '/bin/sh', PUSHER]);
    port = await freePort();
    const vars: Record<string, string> = {
      GG_HOME: ROOT.replace(/\/$/, ''), GG_BIN: join(root, 'bin'), GG_ETC: join(root, 'etc', 'greengate'),
      GG_DATA: join(root, 'var/lib/greengate'), GG_RUNNER_DATA: join(root, 'var/lib/greengate-runner'), GG_GIT: join(root, 'srv/git'),
      GG_PORT: String(port), GG_USER: SERVER_USER, GG_RUNNER_USER: RUNNER_USER, GG_GROUP: GROUP, GG_PUSHER: PUSHER,
    };
    const blocks = installBlocks(readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8'));
    expect(blocks.length, 'marked install blocks in docs/operations.md').to.be.at.least(5);
    const script = ['set -eu', SUDO_SHIM, ...Object.entries(vars).map(([k, v]) => `export ${k}='${v}'`),
      `export PATH="$GG_BIN:$PATH"`, ...blocks].join('\n');
    writeFileSync(join(root, 'install.sh'), script + '\n'); // the script that ran, for a reader
    const logFile = join(root, 'install.log');
    const out = openSync(logFile, 'w');
    const child = spawn('sh', [join(root, 'install.sh')], { cwd: root, stdio: ['ignore', out, out], detached: true,
      env: { PATH: process.env.PATH, HOME: '/root', GREENGATE_LOG_LEVEL: 'warn' } });
    closeSync(out);
    scriptPid = child.pid!;
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    log = readFileSync(logFile, 'utf8');
    expect(code, `install.sh failed:\n${log}`).to.equal(0);
    expect(log).to.contain('the server now keeps its own copy');
    await pollUntil(async () => (await api('/healthz')).runners === 1, 'the runner to connect', 20_000);
    work = join(pusherHome, 'shop');
    expect(asPusher(pusherHome, 'git', 'clone', '--quiet', join(vars.GG_GIT, 'shop.git'), work).ok).to.equal(true);
    pusherGit('checkout', '--quiet', '-B', 'main');
  });

  after(async () => {
    if (!home) return;
    if (scriptPid) try { process.kill(-scriptPid, 'SIGTERM'); } catch { /* the group has ended */ }
    const uids = [SERVER_USER, RUNNER_USER].filter((u) => exists('passwd', u)).map(uidOf);
    for (const pid of processesOf(uids)) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    await pollUntil(() => processesOf(uids).length === 0, 'the server and runner to stop', 20_000).catch(() => {
      for (const pid of processesOf(uids)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    });
    removeUsers();
    home.cleanup();
  });

  it('the files have the owners and modes the doc says', () => {
    const mode = (path: string) => execFileSync('stat', ['-c', '%U:%G %a', path], { encoding: 'utf8' }).trim();
    expect(mode(join(root, 'etc', 'greengate', 'greengate.yml'))).to.equal(`root:${SERVER_USER} 640`);
    expect(mode(join(root, 'etc', 'greengate', 'greengate.env'))).to.equal('root:root 600');
    expect(mode(join(root, 'srv/git/shop.git/greengate-hook-secret'))).to.equal(`${PUSHER}:${GROUP} 640`);
    expect(mode(join(root, 'var/lib/greengate/hook-secrets/shop'))).to.equal(`${SERVER_USER}:${SERVER_USER} 600`);
  });

  it('gates a push: a green push is accepted, a red build closes the tree, the next push is refused', async () => {
    const green = commit({ 'test.sh': '#!/bin/sh\ntest ! -e broken\n' }, 'tests that pass');
    const first = push();
    expect(first.ok, first.output).to.equal(true);
    expect(first.output).to.contain('tree open, accepted');
    expect((await built(green)).result).to.equal('passed');

    const red = commit({ broken: 'yes\n' }, 'break the build');
    expect(push().ok).to.equal(true);
    expect((await built(red)).result).to.equal('failed');
    await pollUntil(async () => (await api('/api/tree/shop/main')).state === 'closed', 'the tree to close');

    commit({ 'other.txt': 'x\n' }, 'an unrelated change');
    const refused = push();
    expect(refused.ok, refused.output).to.equal(false);
    expect(refused.output).to.match(/CLOSED/);
  });
});
