import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import {
  ADMIN_TOKEN, CLI, Repo, ServerProcess, git, gitEnv, pollUntil, stopChild, tempHome,
} from '../helpers.js';
import { CHECK, startGatedShop } from './gatedShop.js';

/** The commit gate end to end: real bare repository, installed hooks, real server and runner. */
describe('commit gate (real pushes through the installed hooks)', function () {
  this.timeout(180_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess;

  before(async () => {
    home = tempHome();
    ({ repo, server, runner } = await startGatedShop(home.dir));
  });
  after(async () => {
    await stopChild(runner);
    await server.kill();
    home.cleanup();
  });

  const tree = () => server.api('/api/tree/shop/main');
  const setTree = (state: string, message?: string) => server.api('/api/tree/shop/main', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ state, message }),
  });
  async function builtOk(sha: string): Promise<any> {
    const b = await pollUntil(async () => (await server.builds('repo=shop&limit=100')).find((x) => x.sha === sha && x.state === 'done'),
      `the build of ${sha.slice(0, 8)}`, 30_000);
    return b;
  }
  const history = async () => (await server.api('/api/tree-history/shop?branch=main')).events as any[];

  it('accepts a push to an open tree and builds it green', async () => {
    const sha = repo.commit({ 'check.sh': CHECK }, 'add the check');
    const push = repo.push();
    expect(push.ok, push.output).to.equal(true);
    expect(push.output).to.contain('tree open, accepted');
    expect((await builtOk(sha)).result).to.equal('passed');
    expect((await tree()).state).to.equal('open');
  });

  let redBuild: any;
  let culprit = '';
  it('closes the tree on a failed build and then rejects an ordinary push, saying why and how to get through', async () => {
    culprit = repo.commit({ broken: 'yes' }, 'break the cart');
    expect(repo.push().ok).to.equal(true);
    redBuild = await builtOk(culprit);
    expect(redBuild.result).to.equal('failed');
    const t = await pollUntil(async () => { const x = await tree(); return x.state === 'closed' ? x : null; }, 'the tree to close');
    expect(t.automatic).to.equal(true);
    expect(t.build.id).to.equal(redBuild.id);
    expect(t.blamelist.map((c: any) => c.sha)).to.deep.equal([culprit]);
    expect(t.message).to.contain(`unit build ${redBuild.id} failed`);

    repo.commit({ 'unrelated.txt': 'x' }, 'an unrelated change');
    const push = repo.push();
    expect(push.ok).to.equal(false);
    expect(push.output).to.match(/CLOSED/);
    expect(push.output).to.contain(`/builds/${redBuild.id}`);
    expect(push.output).to.contain(culprit.slice(0, 7));
    expect(push.output).to.contain('greengate.bypass');
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
  });

  it('lets a revert of the culprit through, records it, and reopens the tree when it builds green', async () => {
    execFileSync('git', ['revert', '--no-edit', culprit], { cwd: repo.work, env: gitEnv(), stdio: 'ignore' });
    const revert = git(repo.work, 'rev-parse', 'HEAD');
    const push = repo.push();
    expect(push.ok, push.output).to.equal(true);
    const recorded = (await history()).find((e) => e.kind === 'revert');
    expect(recorded.commits).to.deep.equal([revert]);
    expect(recorded.actor).to.equal('ada');
    expect((await builtOk(revert)).result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
    expect((await history())[0]).to.include({ kind: 'open', automatic: true });
  });

  it('lets a Fixes-build commit through a closed tree', async () => {
    const bad = repo.commit({ broken: 'again' }, 'break it again');
    repo.push();
    const red = await builtOk(bad);
    await pollUntil(async () => (await tree()).state === 'closed', 'the tree to close');
    git(repo.work, 'rm', '--quiet', 'broken');
    // More than the revert (that would pass as one, proven by its tree): a fix, claimed by its message.
    const fix = repo.commit({ 'NOTES.txt': 'the breakage is gone\n' }, `remove the breakage\n\nFixes-build: ${red.id}`);
    const push = repo.push();
    expect(push.ok, push.output).to.equal(true);
    expect((await history()).find((e) => e.kind === 'fix')?.commits).to.deep.equal([fix]);
    expect((await builtOk(fix)).result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen after the fix');
  });

  it('takes a bypass and records who and why; maintenance refuses a revert but takes the bypass', async () => {
    await setTree('maintenance', 'database migration');
    const sha = repo.commit({ 'm.txt': 'maintenance work' }, 'during maintenance');
    expect(repo.push().ok).to.equal(false);
    const bypass = repo.push('HEAD:refs/heads/main', '-o', 'greengate.bypass=hotfix for checkout outage');
    expect(bypass.ok, bypass.output).to.equal(true);
    const e = (await history())[0];
    expect(e).to.include({ kind: 'bypass', reason: 'hotfix for checkout outage' });
    expect(e.commits).to.deep.equal([sha]);
    execFileSync('git', ['revert', '--no-edit', 'HEAD'], { cwd: repo.work, env: gitEnv(), stdio: 'ignore' });
    expect(repo.push().ok).to.equal(false);
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
    await setTree('open');
  });

  it('keeps a manual closure closed when a build passes', async () => {
    await setTree('closed', 'release freeze');
    const sha = repo.commit({ 'f.txt': 'freeze' }, 'during the freeze');
    expect(repo.push('HEAD:refs/heads/main', '-o', 'greengate.bypass=release manager').ok).to.equal(true);
    expect((await builtOk(sha)).result).to.equal('passed');
    const t = await tree();
    expect(t).to.include({ state: 'closed', automatic: false, message: 'release freeze' });
    await setTree('open');
  });

  it('never blocks tags, deletions, other branches or try refs, and a try push leaves the tree alone', async () => {
    await setTree('closed', 'closed for this test');
    repo.commit({ 't.txt': 'topic' }, 'topic work');
    expect(repo.push('HEAD:refs/heads/topic').ok).to.equal(true);
    git(repo.work, 'tag', 'v1.0');
    expect(repo.push('refs/tags/v1.0').ok).to.equal(true);
    expect(repo.push(':refs/heads/topic').ok).to.equal(true);
    const trySha = repo.commit({ broken: 'try it' }, 'try a risky change');
    expect(repo.push('HEAD:refs/try/risky').ok).to.equal(true);
    const tryBuild = await pollUntil(async () => (await server.builds('repo=shop&kind=try')).find((b) => b.sha === trySha && b.state === 'done'), 'the try build');
    expect(tryBuild.result).to.equal('failed');
    expect((await tree()).message).to.equal('closed for this test');
    await setTree('open');
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
  });

  it('prints its build\'s link on every push: a gated push and a try push', async () => {
    const linked = (output: string) => [...output.matchAll(/greengate: build (https?:\/\/\S+)\/builds\/(\d+)/g)].map((m) => Number(m[2]));
    const sha = repo.commit({ 'link.txt': 'x' }, 'a push that prints its build');
    const push = repo.push();
    expect(push.ok, push.output).to.equal(true);
    const build = await builtOk(sha);
    expect(linked(push.output), push.output).to.deep.equal([build.id]);
    expect(push.output).to.contain(`greengate: build ${build.url}`);
    const trySha = repo.commit({ 'try.txt': 'y' }, 'try it');
    const tryPush = repo.push('HEAD:refs/try/linked');
    expect(tryPush.ok, tryPush.output).to.equal(true);
    const tryBuild = await builtOk(trySha);
    expect(linked(tryPush.output), tryPush.output).to.deep.equal([tryBuild.id]);
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
  });

  it('takes a burst of 55 pushes at once (each asks the gate) and builds each: none refused by the hook\'s timeout', async () => {
    const base = git(repo.work, 'rev-parse', 'HEAD');
    const shas: string[] = [];
    for (let i = 0; i < 55; i++) {
      git(repo.work, 'checkout', '--quiet', '-B', `par-${i}`, base);
      shas.push(repo.commit({ [`p${i}.txt`]: String(i) }, `parallel ${i}`));
    }
    const pushes = shas.map((_, i) => new Promise<number>((resolve) => {
      spawn('git', ['push', '--quiet', 'origin', `par-${i}:refs/heads/par-${i}`], { cwd: repo.work, env: gitEnv(), stdio: 'ignore' })
        .on('exit', (code) => resolve(code ?? 1));
    }));
    expect(await Promise.all(pushes)).to.deep.equal(new Array(55).fill(0));
    await pollUntil(async () => {
      const builds = await server.builds('repo=shop&limit=200');
      return shas.every((s) => builds.some((b) => b.sha === s && b.state === 'done' && b.result === 'passed'));
    }, 'all 55 builds', 120_000, 100);
    git(repo.work, 'checkout', '--quiet', 'main');
  });

  it('refuses pushes while the server is down, and accepts them when configured to fail open', async () => {
    const url = server.url;
    await server.kill();
    repo.commit({ 'd.txt': 'down' }, 'while the server is down');
    const refused = repo.push();
    expect(refused.ok, refused.output).to.equal(false);
    expect(refused.output).to.contain('onUnreachable');
    git(repo.bare, 'config', 'greengate.onUnreachable', 'allow');
    expect(repo.push().ok).to.equal(true);
    git(repo.bare, 'config', 'greengate.onUnreachable', 'reject');
    await server.start();
    expect(server.url).to.equal(url);
  });

  it('answers the tree CLI with the state', () => {
    const out = execFileSync(process.execPath, [CLI, 'tree', 'status', '--server', server.url, '--repo', 'shop', '--branch', 'main'], { encoding: 'utf8' });
    expect(out).to.match(/open/i);
  });
});

