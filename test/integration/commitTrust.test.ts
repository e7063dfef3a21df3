import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { ADMIN_TOKEN, Repo, ServerProcess, git, gitEnv, pollUntil, stopChild, tempHome } from '../helpers.js';
import { CHECK, startGatedShop } from './gatedShop.js';

/**
 * Nothing is believed from a commit message or from a variable the pusher sets (issue 20, findings
 * 4 and 5), attacked through the public interface: real pushes through the installed hooks, the
 * real server and runner. A look-alike revert is refused while `git revert` passes; the recorded
 * pusher is the git server's, not GREENGATE_PUSHER; an admin's rebuild of an old build does not
 * widen the next blamelist.
 */
describe('commit trust: trees, not messages; the authenticated pusher; blamelists in push order', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess;
  let green = '';
  let culprit = '';

  before(async () => {
    home = tempHome('gg-trust-');
    ({ repo, server, runner } = await startGatedShop(home.dir, { gated: ['main'] }));
  });
  after(async () => {
    await stopChild(runner);
    await server.kill();
    home.cleanup();
  });

  const tree = () => server.api('/api/tree/shop/main');
  const passes = async () => (await server.api('/api/gate-passes/shop')).passes as any[];
  const built = (sha: string, after = 0) => pollUntil(async () =>
    (await server.builds('repo=shop&limit=200')).find((b) => b.sha === sha && b.state === 'done' && b.id > after), `the build of ${sha.slice(0, 8)}`, 30_000);
  /** git push as `env` says (the pusher's own environment). */
  function pushWith(env: Record<string, string>, ...options: string[]): { ok: boolean; output: string } {
    const r = spawnSync('git', ['push', '--porcelain', ...options, 'origin', 'HEAD:refs/heads/main'], { cwd: repo.work, encoding: 'utf8', env: gitEnv(env) });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  }

  it('a green build, then a red one that closes the tree', async () => {
    green = repo.commit({ 'check.sh': CHECK, 'cart.txt': 'total = 1\n' }, 'add the check');
    expect(repo.push().ok).to.equal(true);
    expect((await built(green)).result).to.equal('passed');
    culprit = repo.commit({ broken: 'yes' }, 'break the cart');
    expect(repo.push().ok).to.equal(true);
    expect((await built(culprit)).result).to.equal('failed');
    await pollUntil(async () => (await tree()).state === 'closed', 'the tree to close');
  });

  it('refuses a look-alike revert (says it reverts the culprit, adds backdoor.js) and says it is not an exact revert', async () => {
    git(repo.work, 'revert', '--no-edit', '--no-commit', culprit);
    repo.commit({ 'backdoor.js': 'require("child_process").exec(process.env.CMD)\n' }, `Revert "break the cart"\n\nThis reverts commit ${culprit}.\n`);
    const push = repo.push();
    expect(push.ok, push.output).to.equal(false);
    expect(push.output).to.contain('(not an exact revert)').and.to.contain('never its message');
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(culprit);
    git(repo.work, 'reset', '--quiet', '--hard', culprit);
  });

  it('lets an exact revert through (even one whose message names nothing), recording the authenticated pusher, not GREENGATE_PUSHER', async () => {
    git(repo.work, 'revert', '--no-edit', '--no-commit', culprit);
    const revert = repo.commit({}, 'tidy up the cart');
    const push = pushWith({ GREENGATE_PUSHER: 'mallory' }); // gitEnv sets GL_USERNAME=ada, as gitolite would
    expect(push.ok, push.output).to.equal(true);
    expect(push.output).to.contain('accepted: 1 revert(s) of the blamelist');
    const pass = await pollUntil(async () => (await passes()).find((p) => p.newSha === revert && p.state === 'landed'), 'the pass to land');
    expect(pass).to.include({ kind: 'revert', actor: 'ada', claim: false });
    const events = (await server.api('/api/tree-history/shop?branch=main')).events as any[];
    expect(events.map((e) => e.actor)).to.not.include('mallory');
    expect((await built(revert)).result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
  });

  it('an admin rebuild of an old build does not widen the next blamelist', async () => {
    const old = await built(green);
    const res = await fetch(`${server.url}/api/builds/${old.id}/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).to.equal(202);
    const rebuild = (await res.json()).build as number;
    await pollUntil(async () => (await server.build(rebuild)).state === 'done', 'the rebuild');
    const next = repo.commit({ 'more.txt': 'x' }, 'one more commit');
    expect(repo.push().ok).to.equal(true);
    const b = await server.build((await built(next)).id);
    expect(b.blamelist.map((c: any) => c.sha)).to.deep.equal([next]);
  });

  it('records a bypass pushed with GREENGATE_PUSHER=mallory as the authenticated pusher, shown as a claim', async () => {
    await server.api('/api/tree/shop/main', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ state: 'closed', message: 'release freeze' }) });
    const hotfix = repo.commit({ 'hotfix.txt': 'x' }, 'hotfix');
    const push = pushWith({ GREENGATE_PUSHER: 'mallory' }, '-o', 'greengate.bypass=prod is down');
    expect(push.ok, push.output).to.equal(true);
    const pass = await pollUntil(async () => (await passes()).find((p) => p.newSha === hotfix && p.state === 'landed'), 'the bypass to land');
    expect(pass.actor).to.equal('ada');
    expect(pass).to.include({ kind: 'bypass', claim: true });
  });

  it('POST /api/gate naming a quarantine, without the hook secret: 401, nothing read or recorded', async () => {
    const before = (await passes()).length;
    const body = `greengate-gate 1\npusher mallory\nquarantine ${repo.bare}/objects\n` +
      `update ${'1'.repeat(40)} ${'2'.repeat(40)} refs/heads/main\nend\n`;
    const res = await fetch(`${server.url}/api/gate/shop`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    expect(res.status).to.equal(401);
    expect((await res.json() as any).error.code).to.equal('GG_HOOK_SECRET');
    expect((await passes()).length).to.equal(before);
  });
});
