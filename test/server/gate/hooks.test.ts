import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BranchGate } from '../../../server/gate/rules.js';
import { installHooks } from '../../../server/gate/hookInstall.js';
import { GgError } from '../../../server/errors.js';
import { readHookSecret } from '../../../server/gate/hookSecret.js';
import { startGateStub, type GateStub } from '../../bench/hook.js';
import { pollUntil } from '../../helpers.js';

// Real bare repositories, real `git push`, the installed hooks, and a stub at the far end of
// the hooks' protocol (it parses with parseGateRequest and answers with decideGate).

interface Run { code: number | null; stdout: string; stderr: string }

const ZERO = '0'.repeat(40);
const OPEN: BranchGate = { gated: true, state: 'open', reason: null, message: null, since: null, build: null };
const closedBy = (culprits: string[], id = 7): BranchGate => ({
  gated: true,
  state: 'closed',
  reason: `build #${id} failed: unit`,
  message: 'bob is on it',
  since: Date.UTC(2025, 10, 22, 2, 33),
  build: { id, url: `http://ci.example/builds/${id}`, blamelist: culprits },
});
const MAINTENANCE: BranchGate = { ...OPEN, state: 'maintenance', message: 'moving the database' };

describe('git hooks (pre-receive, post-receive) against a stub gate server', function () {
  this.timeout(30_000);
  let root: string;
  let env: NodeJS.ProcessEnv;
  let stub: GateStub;
  let bare: string;
  let work: string;
  let caseNo = 0;

  function run(cmd: string, args: string[], cwd: string, input?: string | Buffer): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      child.stdin.on('error', () => {});
      child.stdin.end(input ?? '');
    });
  }

  async function git(cwd: string, ...args: string[]): Promise<string> {
    const r = await run('git', args, cwd);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  const push = (...args: string[]) => run('git', ['push', 'origin', ...args], work);
  const remoteRef = (ref: string) => run('git', ['rev-parse', '--verify', '-q', ref], bare).then((r) => (r.code === 0 ? r.stdout.trim() : null));

  async function commit(message: string, file = 'cart.txt'): Promise<string> {
    writeFileSync(join(work, file), `${message}\n${Math.random()}\n`);
    await git(work, 'add', file);
    await git(work, 'commit', '-q', '--cleanup=verbatim', '-m', message);
    return git(work, 'rev-parse', 'HEAD');
  }

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'greengate-hooks-'));
    writeFileSync(join(root, 'gitconfig'), '[user]\n\tname = Ada\n\temail = ada@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n');
    env = { ...process.env, HOME: root, GIT_CONFIG_GLOBAL: join(root, 'gitconfig'), GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
    for (const name of ['GIT_DIR', 'GIT_WORK_TREE', 'GL_USER', 'GL_USERNAME', 'REMOTE_USER']) delete env[name];
    env.GL_USERNAME = 'ada'; // an authenticated pusher's name (a git server setting GL_USERNAME)
    stub = await startGateStub();
  });

  after(async () => {
    await stub.close();
    rmSync(root, { recursive: true, force: true });
  });

  beforeEach(async () => {
    caseNo++;
    bare = join(root, `shop${caseNo}.git`);
    work = join(root, `work${caseNo}`);
    await git(root, 'init', '-q', '--bare', bare);
    await git(root, 'clone', '-q', bare, work);
    await commit('Initial commit');
    await git(work, 'push', '-q', 'origin', 'main');
    installHooks(bare, { server: stub.url, repo: 'shop' });
    stub.table.clear();
    stub.table.set('main', OPEN);
    stub.gateCalls.length = 0;
    stub.changes.length = 0;
    stub.hold = false;
    stub.held = 0;
    stub.httpError = null;
  });

  it('installs both hooks, executable and marked, with the settings in git config', async () => {
    for (const name of ['pre-receive', 'post-receive']) {
      const path = join(bare, 'hooks', name);
      const text = readFileSync(path, 'utf8');
      expect(text).to.match(/^#!\/bin\/sh\n# greengate-hook v1\n/);
      expect(text, 'the shared settings are inlined: an installed hook reads no other file').to.include('greengate.onunreachable) policy=')
        .and.not.match(/^# @include/m);
      expect(statSync(path).mode & 0o111).to.equal(0o111);
    }
    const config = await git(bare, 'config', '--get-regexp', '^(greengate|receive)\\.');
    expect(config.split('\n').sort()).to.deep.equal([
      `greengate.onunreachable reject`,
      `greengate.repo shop`,
      `greengate.server ${stub.url}`,
      `greengate.timeout 15`,
      'receive.advertisepushoptions true',
      'receive.procreceiverefs refs/for',
    ]);
    expect(readFileSync(join(bare, 'hooks', 'proc-receive'), 'utf8')).to.match(/^#!\/bin\/sh\n# greengate-hook v1\n[^]*hook proc-receive\n$/);
    const secretFile = join(bare, 'greengate-hook-secret');
    expect(statSync(secretFile).mode & 0o777, 'only the owner may read the hook secret').to.equal(0o600);
    expect(readFileSync(secretFile, 'utf8')).to.match(/^X-Greengate-Hook-Secret: [0-9a-f]{64}\n$/);
  });

  it('keeps the secret on a reinstall, raises the old 2 s default timeout and keeps a chosen one', async () => {
    const secret = readHookSecret(bare);
    await git(bare, 'config', 'greengate.timeout', '2');
    installHooks(bare, { server: stub.url, repo: 'shop', gated: ['main', 'release'] });
    expect(readHookSecret(bare)).to.equal(secret);
    expect(await git(bare, 'config', 'greengate.timeout')).to.equal('15');
    expect(await git(bare, 'config', 'greengate.gated')).to.equal('main release');
    await git(bare, 'config', 'greengate.timeout', '7');
    installHooks(bare, { server: stub.url, repo: 'shop', gated: [] });
    expect(await git(bare, 'config', 'greengate.timeout')).to.equal('7');
    expect(await git(bare, 'config', 'greengate.gated')).to.equal('-');
    expect(() => installHooks(bare, { server: stub.url, repo: 'shop', gated: ['bad name'] })).to.throw(GgError, /not a valid branch name/);
  });

  it('both hooks send the repository\'s hook secret in a header, never on a command line', async () => {
    const secret = readHookSecret(bare);
    expect(secret).to.match(/^[0-9a-f]{64}$/);
    await commit('Add\n');
    const r = await push('main');
    expect(r.code, r.stderr).to.equal(0);
    expect(stub.gateCalls.map((c) => c.secret)).to.deep.equal([secret]);
    expect(stub.changes.map((c) => c.secret)).to.deep.equal([secret]);
    for (const name of ['pre-receive', 'post-receive']) {
      expect(readFileSync(join(bare, 'hooks', name), 'utf8')).to.include('"@$secretfile"').and.not.include(secret);
    }
  });

  it('a hook without a readable secret file sends none (the server answers 401)', async () => {
    rmSync(join(bare, 'greengate-hook-secret'));
    await commit('Add\n');
    await push('main');
    expect(stub.gateCalls.map((c) => c.secret)).to.deep.equal([null]);
  });

  it('keeps the gated branches from every verdict in greengate.gated', async () => {
    await commit('Add\n');
    expect((await push('main')).code).to.equal(0);
    expect(await git(bare, 'config', 'greengate.gated')).to.equal('main');
    stub.table.set('release', OPEN);
    await commit('More\n');
    expect((await push('main')).code).to.equal(0);
    expect(await git(bare, 'config', 'greengate.gated')).to.equal('main release');
  });

  it('while the server is unreachable, lets through a push that updates no gated branch', async () => {
    installHooks(bare, { server: 'http://127.0.0.1:1', repo: 'shop', gated: ['main'] });
    const head = await commit('Work in progress\n');
    const feature = await push('HEAD:refs/heads/feature');
    expect(feature.code, feature.stderr).to.equal(0);
    expect(feature.stderr).to.include('remote: greengate: this push updates no gated branch (greengate.gated: main): accepted unchecked');
    expect(await remoteRef('refs/heads/feature')).to.equal(head);
    const main = await push('main');
    expect(main.code).to.not.equal(0);
    expect(main.stderr).to.include('greengate.onUnreachable is reject');
    const both = await push('HEAD:refs/heads/feature2', 'HEAD:refs/heads/main');
    expect(both.code, 'a push that touches a gated branch is checked whole').to.not.equal(0);
    expect(await remoteRef('refs/heads/feature2')).to.equal(null);
    await git(bare, 'config', 'greengate.onUnreachable', 'allow');
    expect((await push('main')).code).to.equal(0);
    expect(await remoteRef('refs/heads/main')).to.equal(head);
  });

  it('a 401 (missing or wrong secret) refuses gated pushes even with onUnreachable allow, but not other branches', async () => {
    stub.httpError = { status: 401, body: '{"error":{"code":"GG_HOOK_SECRET","message":"wrong hook secret"}}' };
    await git(bare, 'config', 'greengate.onUnreachable', 'allow');
    await git(bare, 'config', 'greengate.gated', 'main');
    await commit('Add\n');
    const main = await push('main');
    expect(main.code).to.not.equal(0);
    expect(main.stderr).to.include('refused this hook\'s secret (HTTP 401): run greengate hook install');
    expect(main.stderr).to.include('GG_HOOK_SECRET');
    expect((await push('HEAD:refs/heads/feature')).code).to.equal(0);
  });

  it('sends the authenticated pusher (GL_USERNAME, REMOTE_USER, else the OS user), never GREENGATE_PUSHER', async () => {
    const saved = { ...env };
    try {
      env.GREENGATE_PUSHER = 'mallory';
      await commit('One\n');
      expect((await push('main')).code).to.equal(0);
      delete env.GL_USERNAME;
      env.REMOTE_USER = 'bob';
      await commit('Two\n');
      expect((await push('main')).code).to.equal(0);
      delete env.REMOTE_USER;
      await commit('Three\n');
      expect((await push('main')).code).to.equal(0);
    } finally {
      env = saved;
    }
    const me = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
    expect(stub.gateCalls.map((c) => c.request?.pusher)).to.deep.equal(['ada', 'bob', me]);
  });

  it('sends gitolite\'s GL_USER as the pusher, ahead of GL_USERNAME and REMOTE_USER', async () => {
    const saved = { ...env };
    try {
      env.GL_USER = 'grace'; // gitolite-shell sets GL_USER to the SSH key's user name
      env.REMOTE_USER = 'bob';
      await commit('Via gitolite\n');
      expect((await push('main')).code).to.equal(0);
    } finally {
      env = saved;
    }
    expect(stub.gateCalls.at(-1)?.request?.pusher).to.equal('grace');
  });

  it('accepts a push to an open tree, sending the pusher, the update and every new commit', async () => {
    const old = await git(work, 'rev-parse', 'HEAD');
    await commit('Add the cart\n\nWith a body.\n');
    await commit('Add the till\n');
    const head = await commit('Add the receipt\n');
    const r = await push('main');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('remote: greengate: main: tree open, accepted');
    expect(await remoteRef('main')).to.equal(head);
    expect(stub.gateCalls).to.have.length(1);
    const call = stub.gateCalls[0];
    expect(call.repo).to.equal('shop');
    expect(call.request?.pusher).to.equal('ada');
    expect(call.request?.options).to.deep.equal([]);
    const expected = (await git(work, 'rev-list', `${old}..${head}`)).split('\n');
    expect(call.request?.updates).to.have.length(1);
    const update = call.request!.updates[0];
    expect([update.old, update.new, update.ref]).to.deep.equal([old, head, 'refs/heads/main']);
    expect(update.commits.map((c) => c.sha)).to.deep.equal(expected);
    expect(update.commits.map((c) => c.message)).to.deep.equal(['Add the receipt\n', 'Add the till\n', 'Add the cart\n\nWith a body.\n']);
  });

  it('refuses a push to a closed tree, and git push shows why and how to get through', async () => {
    const culprit = await commit('Break the cart\n');
    await push('main');
    stub.table.set('main', closedBy([culprit]));
    const before = await remoteRef('main');
    await commit('Add a feature\n');
    const r = await push('main');
    expect(r.code).to.not.equal(0);
    expect(await remoteRef('main')).to.equal(before);
    for (const text of [
      'remote: greengate: REFUSED main: the tree is CLOSED since 2025-11-22 02:33 UTC',
      'remote: greengate:   reason: build #7 failed: unit',
      'remote: greengate:   message: bob is on it',
      'remote: greengate:   red build: #7 http://ci.example/builds/7',
      `remote: greengate:   blamelist: ${culprit.slice(0, 7)}`,
      'Fixes-build: 7',
      'git push -o greengate.bypass="<reason>"',
      '(pre-receive hook declined)',
    ]) {
      expect(r.stderr).to.include(text);
    }
  });

  it('accepts a revert of a blamelist commit on a closed tree, recorded as a revert', async () => {
    const culprit = await commit('Break the cart\n');
    await push('main');
    stub.table.set('main', closedBy([culprit]));
    await git(work, 'revert', '--no-edit', culprit);
    const head = await git(work, 'rev-parse', 'HEAD');
    const r = await push('main');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('remote: greengate: main: tree CLOSED, accepted: 1 revert(s) of the blamelist');
    // The server proves the revert by its tree, reading the push's objects from git's quarantine.
    expect(stub.gateCalls.at(-1)?.request?.quarantine).to.match(/\/objects\/(tmp_objdir-)?incoming-[^/]+$/);
    expect(await remoteRef('main')).to.equal(head);
    expect(stub.gateCalls.at(-1)?.verdict?.passes).to.deep.equal([
      { ref: 'refs/heads/main', branch: 'main', kind: 'revert', commits: [head], reason: 'reverts blamelist commits of build #7' },
    ]);
  });

  it('accepts a commit with the Fixes-build trailer of the red build', async () => {
    const culprit = await commit('Break the cart\n');
    await push('main');
    stub.table.set('main', closedBy([culprit], 12));
    const head = await commit('Mend the cart\n\nFixes-build: 12\n');
    const r = await push('main');
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteRef('main')).to.equal(head);
    expect(stub.gateCalls.at(-1)?.verdict?.passes[0]).to.include({ kind: 'fix', reason: "Fixes-build: 12 (the pusher's claim, not checked by greengate)" });
  });

  it('accepts a bypass, and the server sees the option and records the reason', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    const head = await commit('Hotfix\n');
    const r = await push('-o', 'greengate.bypass=prod is down', 'main');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('remote: greengate: main: tree CLOSED, accepted by bypass "prod is down" (recorded)');
    expect(await remoteRef('main')).to.equal(head);
    const call = stub.gateCalls.at(-1)!;
    expect(call.request?.options).to.deep.equal(['greengate.bypass=prod is down']);
    expect(call.verdict?.passes).to.deep.equal([{ ref: 'refs/heads/main', branch: 'main', kind: 'bypass', commits: [head], reason: 'prod is down' }]);
  });

  it('in maintenance refuses a revert but takes the bypass', async () => {
    const culprit = await commit('Break the cart\n');
    await push('main');
    stub.table.set('main', MAINTENANCE);
    await git(work, 'revert', '--no-edit', culprit);
    const refused = await push('main');
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.include('remote: greengate: REFUSED main: the tree is in MAINTENANCE');
    expect(refused.stderr).to.include('moving the database');
    const bypassed = await push('-o', 'greengate.bypass=db move done', 'main');
    expect(bypassed.code, bypassed.stderr).to.equal(0);
    expect(await remoteRef('main')).to.equal(await git(work, 'rev-parse', 'HEAD'));
  });

  it('lets tags and refs/try/* through on a closed tree without asking the server', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    const head = await commit('Try this\n');
    await git(work, 'tag', 'v1');
    const r = await push('v1', 'HEAD:refs/try/ada');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).not.to.include('remote: greengate');
    expect(await remoteRef('refs/tags/v1')).to.equal(head);
    expect(await remoteRef('refs/try/ada')).to.equal(head);
    expect(stub.gateCalls).to.have.length(0);
  });

  it('lets other branches and deletions through on a closed tree', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    stub.table.set('release', closedBy(['f'.repeat(40)]));
    await commit('Work in progress\n');
    const feature = await push('HEAD:refs/heads/feature');
    expect(feature.code, feature.stderr).to.equal(0);
    expect(feature.stderr).to.include('remote: greengate: feature: not gated');
    expect(stub.gateCalls).to.have.length(1);
    await git(bare, 'update-ref', 'refs/heads/release', await git(bare, 'rev-parse', 'main'));
    const deletion = await push(':refs/heads/feature', ':refs/heads/release');
    expect(deletion.code, deletion.stderr).to.equal(0);
    expect(await remoteRef('refs/heads/feature')).to.equal(null);
    expect(await remoteRef('refs/heads/release')).to.equal(null);
    expect(stub.gateCalls[1].request?.updates.map((u) => [u.ref, u.new, u.commits.length])).to.deep.equal([
      ['refs/heads/feature', ZERO, 0],
      ['refs/heads/release', ZERO, 0],
    ]);
  });

  it('refuses the whole push when one of its refs is refused', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    await commit('Sneak in\n');
    const r = await push('HEAD:refs/heads/feature', 'HEAD:refs/heads/main', 'HEAD:refs/try/x');
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('remote: greengate: refs/heads/feature: fine on its own, but refused with the rest of this push');
    expect(await remoteRef('refs/heads/feature')).to.equal(null);
    expect(await remoteRef('refs/try/x')).to.equal(null);
    expect(stub.gateCalls[0].request?.updates.map((u) => u.ref).sort()).to.deep.equal(['refs/heads/feature', 'refs/heads/main']);
  });

  it('refuses a rewind of a closed branch unless bypassed', async () => {
    const first = await git(work, 'rev-parse', 'HEAD');
    await commit('Second\n');
    await push('main');
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    const refused = await push('--force', `${first}:refs/heads/main`);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.include('no new commits (a rewind, or a move to a commit already pushed)');
    const bypassed = await push('--force', '-o', 'greengate.bypass=roll back', `${first}:refs/heads/main`);
    expect(bypassed.code, bypassed.stderr).to.equal(0);
    expect(await remoteRef('main')).to.equal(first);
  });

  it('checks commits already in the repository when they land on a gated branch', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)], 7));
    const fix = await commit('Mend it\n\nFixes-build: 7\n');
    expect((await push('HEAD:refs/try/mend')).code).to.equal(0);
    const r = await push('main');
    expect(r.code, r.stderr).to.equal(0);
    expect(stub.gateCalls.at(-1)?.request?.updates[0].commits.map((c) => c.sha)).to.deep.equal([fix]);
  });

  it('refuses the push when the server is down, never suggesting to turn the gate off', async () => {
    await git(bare, 'config', 'greengate.server', 'http://127.0.0.1:1');
    const before = await remoteRef('main');
    await commit('Add\n');
    const r = await push('main');
    expect(r.code).to.not.equal(0);
    expect(await remoteRef('main')).to.equal(before);
    expect(r.stderr).to.include('remote: greengate: cannot reach the greengate server at http://127.0.0.1:1');
    expect(r.stderr).to.not.include('onUnreachable allow');
    expect(r.stderr).to.include('tell the greengate admin');
  });

  it('accepts with a warning when greengate.onUnreachable is allow, and post-receive only warns', async () => {
    await git(bare, 'config', 'greengate.server', 'http://127.0.0.1:1');
    await git(bare, 'config', 'greengate.onUnreachable', 'allow');
    const head = await commit('Add\n');
    const r = await push('main');
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteRef('main')).to.equal(head);
    expect(r.stderr).to.include('remote: greengate: warning: push accepted unchecked (greengate.onUnreachable is allow)');
    expect(r.stderr).to.include('remote: greengate: warning: could not tell http://127.0.0.1:1 about this push');
  });

  it('takes a bypass while the server is down, saying it was not recorded', async () => {
    await git(bare, 'config', 'greengate.server', 'http://127.0.0.1:1');
    const head = await commit('Hotfix\n');
    const r = await push('-o', 'greengate.bypass=prod is down', 'main');
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteRef('main')).to.equal(head);
    expect(r.stderr).to.include('accepted by bypass "prod is down", which was NOT recorded');
  });

  it('refuses after greengate.timeout when the server never answers', async () => {
    stub.hold = true; // the request is parked: only the hook's own time limit can end the push
    await git(bare, 'config', 'greengate.timeout', '2');
    const before = await remoteRef('main');
    await commit('Add\n');
    const started = Date.now();
    const r = await push('main');
    const elapsed = Date.now() - started;
    expect(r.code).to.not.equal(0);
    expect(await remoteRef('main')).to.equal(before);
    expect(r.stderr).to.include('remote: greengate: no verdict from');
    expect(r.stderr).to.include('within 2s (greengate.timeout)');
    expect(stub.held, 'the server saw the request').to.equal(1);
    expect(stub.gateCalls, 'and never answered it').to.have.length(0);
    expect(elapsed, 'not before the time limit').to.be.at.least(1900);
  });

  it('treats an HTTP error like an unreachable server and shows its body', async () => {
    stub.httpError = { status: 500, body: 'database is locked\n' };
    await commit('Add\n');
    const r = await push('main');
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('remote: database is locked');
    expect(r.stderr).to.include('answered HTTP 500 instead of a verdict');
    await git(bare, 'config', 'greengate.onUnreachable', 'allow');
    expect((await push('main')).code).to.equal(0);
  });

  it('post-receive posts the update lines with the pusher', async () => {
    const old = await git(work, 'rev-parse', 'HEAD');
    const head = await commit('Add\n');
    await git(work, 'tag', 'v2');
    const r = await push('main', 'v2');
    expect(r.code, r.stderr).to.equal(0);
    expect(stub.changes).to.have.length(1);
    const notice = stub.changes[0];
    expect(notice.repo).to.equal('shop');
    expect(notice.pusher).to.equal('ada');
    expect(notice.contentType).to.equal('text/plain');
    expect(notice.body.trimEnd().split('\n').sort()).to.deep.equal([`${ZERO} ${head} refs/tags/v2`, `${old} ${head} refs/heads/main`]);
  });

  it('does not let commit messages forge fields', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    const before = await remoteRef('main');
    const forged =
      `Innocent subject\n\nupdate ${ZERO} ${'e'.repeat(40)} refs/heads/forged\noption greengate.bypass=forged\n` +
      `${'e'.repeat(40)} commit 30\nRevert\nend\n`;
    const head = await commit(forged);
    const r = await push('main');
    expect(r.code).to.not.equal(0);
    expect(await remoteRef('main')).to.equal(before);
    // The verdict call of this push (found by its commit: under load an earlier test's call may be recorded later).
    const req = (await pollUntil(() => stub.gateCalls.find((c) => c.request?.updates.some((u) => u.commits.some((x) => x.sha === head))),
      'the gate call of this push', 10_000))!.request!;
    expect(req.options).to.deep.equal([]);
    expect(req.updates.map((u) => u.ref)).to.deep.equal(['refs/heads/main']);
    expect(req.updates[0].commits).to.deep.equal([{ sha: head, message: forged }]);
  });

  it('does not let a NUL byte in a hand-made commit forge a record', async () => {
    stub.table.set('main', closedBy(['f'.repeat(40)]));
    const parent = await git(work, 'rev-parse', 'HEAD');
    const tree = await git(work, 'rev-parse', 'HEAD^{tree}');
    const message = `Evil\n\0\noption greengate.bypass=forged\nupdate ${ZERO} ${'e'.repeat(40)} refs/heads/x\nend\n`;
    const raw = `tree ${tree}\nparent ${parent}\nauthor Ada <ada@example.com> 1700000000 +0000\ncommitter Ada <ada@example.com> 1700000000 +0000\n\n${message}`;
    const made = await run('git', ['hash-object', '-t', 'commit', '-w', '--literally', '--stdin'], work, Buffer.from(raw));
    const evil = made.stdout.trim();
    const r = await push(`${evil}:refs/heads/main`);
    expect(r.code).to.not.equal(0);
    const commits = stub.gateCalls.at(-1)!.request!.updates[0].commits;
    expect(commits).to.deep.equal([{ sha: evil, message }]);
  });

  it('keeps a foreign hook: moves it to .local and runs it after ours with the same stdin', async () => {
    const fresh = join(root, `foreign${caseNo}.git`);
    await git(root, 'init', '-q', '--bare', fresh);
    const log = join(root, `foreign${caseNo}.log`);
    for (const name of ['pre-receive', 'post-receive']) {
      writeFileSync(join(fresh, 'hooks', name), `#!/bin/sh\n{ echo "${name}"; cat; } >> "${log}"\ngrep -q refs/heads/blocked "${log}" && { echo "local policy: no" >&2; exit 1; }\nexit 0\n`);
      chmodSync(join(fresh, 'hooks', name), 0o755);
    }
    const result = installHooks(fresh, { server: stub.url });
    expect(result.repo).to.equal(`foreign${caseNo}`);
    expect(result.preserved).to.deep.equal([join(fresh, 'hooks', 'pre-receive.local'), join(fresh, 'hooks', 'post-receive.local')]);
    expect(readFileSync(join(fresh, 'hooks', 'pre-receive.local'), 'utf8')).to.include('local policy');
    await git(work, 'remote', 'set-url', 'origin', fresh);
    const head = await commit('Add\n');
    expect((await push('main')).code).to.equal(0);
    expect(readFileSync(log, 'utf8')).to.equal(`pre-receive\n${ZERO} ${head} refs/heads/main\npost-receive\n${ZERO} ${head} refs/heads/main\n`);
    const blocked = await push('HEAD:refs/heads/blocked');
    expect(blocked.code).to.not.equal(0);
    expect(blocked.stderr).to.include('remote: local policy: no');
    installHooks(fresh, { server: stub.url }); // again: our own hooks are replaced, not moved
    expect(readFileSync(join(fresh, 'hooks', 'pre-receive.local'), 'utf8')).to.include('local policy');
    writeFileSync(join(fresh, 'hooks', 'pre-receive'), '#!/bin/sh\nexit 0\n');
    expect(() => installHooks(fresh, { server: stub.url })).to.throw(GgError, /pre-receive.local exists too/);
  });

  it('refuses to install into something that is not a bare repository, or with bad settings', () => {
    const errorOf = (fn: () => unknown): GgError => {
      try {
        fn();
      } catch (err) {
        expect(err).to.be.instanceOf(GgError);
        expect((err as GgError).code).to.equal('GG_HOOK_INSTALL');
        return err as GgError;
      }
      throw new Error('expected a GgError GG_HOOK_INSTALL');
    };
    const plain = join(root, `plain${caseNo}`);
    mkdirSync(plain);
    expect(errorOf(() => installHooks(join(root, 'nope'), { server: stub.url })).message).to.match(/is not a directory/);
    expect(errorOf(() => installHooks(plain, { server: stub.url })).message).to.match(/is not a git repository/);
    expect(errorOf(() => installHooks(work, { server: stub.url })).message).to.match(/is not a bare repository/);
    expect(errorOf(() => installHooks(join(bare, 'refs'), { server: stub.url })).message).to.match(/is inside the bare repository/);
    expect(errorOf(() => installHooks(bare, { server: 'ftp://x' })).message).to.match(/must start with http:\/\/ or https:\/\//);
    expect(errorOf(() => installHooks(bare, { server: 'localhost:8010' })).message).to.match(/must start with http|is not a URL/);
    expect(errorOf(() => installHooks(bare, { server: stub.url, repo: '../etc' })).message).to.match(/repository name "..\/etc" is not valid/);
    const spaced = join(root, `my shop${caseNo}.git`);
    mkdirSync(spaced);
    return run('git', ['init', '-q', '--bare', spaced], root).then(() => {
      expect(errorOf(() => installHooks(spaced, { server: stub.url })).message).to.match(/taken from the directory name\): pass --repo NAME/);
      expect(installHooks(spaced, { server: `${stub.url}/`, repo: 'shop' }).repo).to.equal('shop');
      expect(existsSync(join(spaced, 'hooks', 'pre-receive'))).to.equal(true);
    });
  });
});
