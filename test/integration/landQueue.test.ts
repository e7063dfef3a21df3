import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, CLI, NODE_FLAGS, Repo, ServerProcess, connectRunner, git, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';
import { installHooks } from '../../server/gate/hookInstall.js';

/** The land queue's entry end to end: a real bare repository with the installed proc-receive hook and a real server. */
describe('land queue entry (git push to refs/for/main through the proc-receive hook)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let base = '';

  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    base = repo.commit({ 'a.txt': 'a\n' }, 'first');
    expect(repo.push().ok).to.equal(true); // no hooks yet
    const shop = { name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }], land: { main: 'queue-only' } };
    const file = writeConfig(home.dir, [shop as Parameters<typeof writeConfig>[1][number]]);
    server = await new ServerProcess(file).start();
    execFileSync(process.execPath, [...NODE_FLAGS, CLI, 'hook', 'install', repo.bare, '--server', server.url], { encoding: 'utf8', stdio: 'pipe' });
  });
  after(async () => {
    await server?.kill();
    home?.cleanup();
  });

  it('installs the proc-receive hook and sets receive.procReceiveRefs', () => {
    expect(existsSync(join(repo.bare, 'hooks', 'proc-receive'))).to.equal(true);
    expect(git(repo.bare, 'config', 'receive.procReceiveRefs')).to.equal('refs/for');
  });

  it('queues a push to refs/for/main, answers its position and link, keeps the commit and leaves main alone', async () => {
    const sha = repo.commit({ 'b.txt': 'b\n' }, 'second');
    const t0 = Date.now();
    const push = repo.push('HEAD:refs/for/main');
    const took = Date.now() - t0;
    expect(push.ok, push.output).to.equal(true);
    expect(push.output).to.match(/remote: greengate: queued as change (\d+), position 1 in main's land queue: http:\/\/\S+\/queue\/shop\/main/);
    const id = Number(/queued as change (\d+)/.exec(push.output)![1]);
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(base);
    await pollUntil(() => { try { return git(repo.bare, 'rev-parse', `refs/greengate/queue/${id}`) === sha; } catch { return null; } }, 'the hidden ref', 5_000);
    expect(() => git(repo.bare, 'rev-parse', '--verify', '-q', 'refs/for/main')).to.throw(); // never a plain ref
    const q = await server.api('/api/queue/shop/main');
    expect(q).to.include({ repo: 'shop', branch: 'main', mode: 'queue-only', window: 3 });
    expect(q.changes[0]).to.include({ id, position: 1, commit: sha, base, pusher: 'ada' });
    expect(q.changes[0].state).to.be.oneOf(['queued', 'testing']); // no runner here: its candidate waits
    expect(q, 'no candidate measured yet').to.have.property('candidateMs', null);
    expect(q.changes[0], 'an estimate only once a candidate was measured').to.have.property('expectedLandingAt', null);
    console.log(`      (whole git push to refs/for/main: ${took} ms)`);
  });

  it('refuses a direct push to a queue-only branch, pointing at refs/for/main', () => {
    const push = repo.push('HEAD:refs/heads/main');
    expect(push.ok).to.equal(false);
    expect(push.output).to.contain('main takes changes only through its land queue (land: queue-only)');
    expect(push.output).to.contain('git push origin HEAD:refs/for/main');
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(base);
  });

  it('asks the repository\'s update hook (which git skips for refs/for/*) whether the pusher may write the branch itself', async () => {
    const hook = join(repo.bare, 'hooks', 'update');
    // A per-branch rule as gitolite's update hook keeps: ada may not write main.
    writeFileSync(hook, '#!/bin/sh\nif [ "$1" = refs/heads/main ] && [ "$GL_USERNAME" = ada ]; then echo "FATAL: W $1 shop ada DENIED" >&2; exit 1; fi\nexit 0\n', { mode: 0o755 });
    try {
      const before = (await server.api('/api/queue/shop/main')).changes.length;
      repo.commit({ 'd.txt': 'd\n' }, 'not allowed on main');
      const push = repo.push('HEAD:refs/for/main');
      expect(push.ok).to.equal(false);
      expect(push.output).to.contain('FATAL: W refs/heads/main shop ada DENIED');
      expect(push.output).to.contain("the repository's update hook refuses your writing to refs/heads/main");
      expect((await server.api('/api/queue/shop/main')).changes.length).to.equal(before);
    } finally {
      rmSync(hook);
    }
  });

  it('refuses a push to refs/for/ a branch without a land queue, saying how to add one, and queues nothing', async () => {
    repo.commit({ 'c.txt': 'c\n' }, 'third');
    const push = repo.push('HEAD:refs/for/release');
    expect(push.ok).to.equal(false);
    expect(push.output).to.contain('branch "release" of shop has no land queue');
    expect(push.output).to.contain('land: { release: queue }');
    expect((await server.api('/api/queue/shop/main')).changes).to.have.length(1);
  });

  it('refuses POST /api/queue/:repo without the hook secret (401) and DELETE of a change without the admin token (401)', async () => {
    const sha = git(repo.work, 'rev-parse', 'HEAD');
    const post = await fetch(`${server.url}/api/queue/shop`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ updates: [{ old: '0'.repeat(40), new: sha, ref: 'refs/for/main' }], pusher: 'mallory' }) });
    expect(post.status).to.equal(401);
    expect((await post.json()).error.code).to.equal('GG_HOOK_SECRET');
    const wrong = await fetch(`${server.url}/api/queue/shop`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-greengate-hook-secret': 'f'.repeat(64) },
      body: JSON.stringify({ updates: [{ old: '0'.repeat(40), new: sha, ref: 'refs/for/main' }] }) });
    expect(wrong.status).to.equal(401);
    const del = await fetch(`${server.url}/api/queue/shop/changes/1`, { method: 'DELETE' });
    expect(del.status).to.equal(401);
    expect((await server.api('/api/queue/shop/main')).changes.map((c: any) => c.position)).to.deep.equal([1]);
  });

  it('shows the queue on its page and in `greengate queue status`; `queue remove` without the admin token is refused', async () => {
    const id = (await server.api('/api/queue/shop/main')).changes[0].id;
    const page = await fetch(`${server.url}/queue/shop/main`);
    expect(page.status).to.equal(200);
    const html = await page.text();
    expect(html).to.contain('Land queue of shop/main').and.contain('git push origin HEAD:refs/for/main').and.contain('direct pushes to main are refused');
    expect(html).to.match(new RegExp(`<td>1</td>\\s*<td>${id}</td>`));
    expect(html).to.contain('expected to land').and.contain('not known yet');
    expect((await fetch(`${server.url}/queue/shop/release`)).status).to.equal(404);
    const cli = (...args: string[]) => spawnSync(process.execPath, [...NODE_FLAGS, CLI, 'queue', ...args, '--server', server.url, '--repo', 'shop'],
      { encoding: 'utf8', env: { ...process.env, GREENGATE_ADMIN_TOKEN: '' } });
    const status = cli('status');
    expect(status.status, status.stderr).to.equal(0);
    expect(status.stdout).to.contain('shop/main: land queue (queue-only), 1 waiting, 3 tested at once');
    expect(status.stdout).to.match(new RegExp(`^#1 ${id} (queued|testing) `, 'm'));
    const remove = cli('remove', String(id));
    expect(remove.status).to.equal(1);
    expect(remove.stderr).to.contain('401');
    expect((await server.api('/api/queue/shop/main')).changes[0].position).to.equal(1);
  });

  it('lets an admin remove a change (then it is no longer queued) and answers 404 for one that is not', async () => {
    const id = (await server.api('/api/queue/shop/main')).changes[0].id;
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const del = await fetch(`${server.url}/api/queue/shop/changes/${id}`, { method: 'DELETE', headers: auth });
    expect(del.status).to.equal(200);
    const again = await fetch(`${server.url}/api/queue/shop/changes/${id}`, { method: 'DELETE', headers: auth });
    expect(again.status).to.equal(404);
    expect((await again.json()).error.code).to.equal('GG_QUEUE_NOT_FOUND');
    const c = (await server.api('/api/queue/shop/main')).changes[0];
    expect(c).to.include({ id, state: 'removed', position: null });
    expect(c.reason).to.match(/^removed by /);
  });
});


// check.sh decides a build: it fails while the file "broken" exists in the commit.
const CHECK = 'if [ -f broken ]; then echo "cart total is wrong" >&2; exit 1; fi; echo ok\n';

/** A shop with a land queue on main, a real server and runner: changes pushed to refs/for/main land, or are ejected, through the queue. */
async function startQueuedShop(home: string, env: Record<string, string> = {}, withRunner = true) {
  const repo = new Repo(home);
  repo.commit({ 'check.sh': CHECK }, 'the check');
  expect(repo.push().ok).to.equal(true);
  const shop = { name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'sh ./check.sh' }], land: { main: 'queue' } };
  const server = new ServerProcess(writeConfig(home, [shop as Parameters<typeof writeConfig>[1][number]]));
  server.env = env;
  await server.start();
  installHooks(repo.bare, { server: server.url, repo: 'shop' });
  const runner = withRunner ? await connectRunner(server, 'r1', home, { slots: 2 }) : undefined;
  return { repo, server, runner };
}

/** Commits `files` on top of main (not on the changes pushed before) and pushes the commit to refs/for/main; its sha and queue id. */
function queueChange(repo: Repo, files: Record<string, string>, message: string): { sha: string; id: number } {
  git(repo.work, 'checkout', '--quiet', '-B', `c-${message.replace(/\W+/g, '-')}`, 'origin/main');
  const sha = repo.commit(files, message);
  const push = repo.push('HEAD:refs/for/main');
  expect(push.ok, push.output).to.equal(true);
  return { sha, id: Number(/queued as change (\d+)/.exec(push.output)![1]) };
}

const queueOf = async (server: ServerProcess) => (await server.api('/api/queue/shop/main')).changes as any[];
const settled = (server: ServerProcess, n: number) => pollUntil(async () => {
  const changes = await queueOf(server);
  return changes.length >= n && changes.every((c) => c.state !== 'queued' && c.state !== 'testing') ? changes : null;
}, 'every queued change to land or leave', 60_000, 100);

describe('land queue (three changes pushed to refs/for/main, the second breaking the check)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let world: Awaited<ReturnType<typeof startQueuedShop>>;

  before(async () => {
    home = tempHome();
    world = await startQueuedShop(home.dir);
  });
  after(async () => {
    await stopChild(world?.runner);
    await world?.server.kill();
    home?.cleanup();
  });

  it('lands the first and third, ejects the second naming why, and no build of main is red', async () => {
    const { repo, server } = world;
    const a = queueChange(repo, { 'a.txt': 'a\n' }, 'add a');
    const b = queueChange(repo, { broken: 'yes\n' }, 'break the cart');
    const c = queueChange(repo, { 'c.txt': 'c\n' }, 'add c');
    const changes = await settled(server, 3);
    const byId = new Map(changes.map((x) => [x.id, x]));
    expect(byId.get(a.id).state).to.equal('landed');
    expect(byId.get(c.id).state).to.equal('landed');
    expect(byId.get(b.id)).to.include({ state: 'ejected', pusher: 'ada' });
    expect(byId.get(b.id).reason).to.match(/its candidate [0-9a-f]{10} failed \(builds \d+/);
    const main = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(main).to.equal(byId.get(c.id).landed);
    const files = git(repo.bare, 'ls-tree', '--name-only', 'main').split('\n');
    expect(files).to.include.members(['a.txt', 'c.txt', 'check.sh']);
    expect(files).not.to.include('broken');
    // The branch's own builds (the landings recorded as pushes) are all green.
    const builds = await pollUntil(async () => {
      const list = (await server.builds('repo=shop&kind=branch&limit=100')).filter((x) => x.branch === 'main');
      return list.some((x) => x.sha === main) && list.every((x) => x.state === 'done') ? list : null;
    }, 'the builds of main to finish', 30_000);
    expect(builds.map((x) => x.result).filter((r) => r !== 'passed' && r !== 'flaky')).to.deep.equal([]);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');
    const waterfall = await (await fetch(`${server.url}/`)).text();
    expect(waterfall).to.contain(`via queue #${a.id}`).and.contain(`via queue #${c.id}`).and.not.contain(`via queue #${b.id}<`);
  });
});

describe('land queue across a server killed between the update-ref and recording the landing', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let world: Awaited<ReturnType<typeof startQueuedShop>>;
  let runner: Awaited<ReturnType<typeof connectRunner>> | undefined;

  before(async () => {
    home = tempHome();
    world = await startQueuedShop(home.dir, { GG_FAULT: 'crash-after-land-update-ref' }, false);
  });
  after(async () => {
    await stopChild(world?.runner);
    await stopChild(runner);
    await world?.server.kill();
    home?.cleanup();
  });

  it('after a restart, the change is landed exactly once and the one behind still lands', async () => {
    const { repo, server } = world;
    // a is made on an older head than the branch's (a direct push lands between), so its candidate is a merge commit the
    // server makes: landing it twice would show as a second merge.
    git(repo.work, 'checkout', '--quiet', '-B', 'ca', 'origin/main');
    repo.commit({ 'a.txt': 'a\n' }, 'add a');
    git(repo.work, 'checkout', '--quiet', '-B', 'cx', 'origin/main');
    repo.commit({ 'x.txt': 'x\n' }, 'a direct push');
    expect(repo.push('HEAD:refs/heads/main').ok).to.equal(true);
    const before = git(repo.bare, 'rev-parse', 'refs/heads/main');
    git(repo.work, 'checkout', '--quiet', 'ca');
    const pushA = repo.push('HEAD:refs/for/main');
    const a = { id: Number(/queued as change (\d+)/.exec(pushA.output)![1]) };
    git(repo.work, 'fetch', '--quiet', 'origin');
    const b = queueChange(repo, { 'b.txt': 'b\n' }, 'add b');
    runner = await connectRunner(server, 'r1', home.dir, { slots: 2 }); // both queued before any candidate can pass
    await pollUntil(() => server.child.exitCode !== null || server.child.signalCode !== null, 'the server to crash at the landing', 60_000);
    expect(server.child.signalCode).to.equal('SIGKILL');
    const moved = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(moved).not.to.equal(before); // the branch moved, the row was not written
    server.env = {};
    await server.start();
    const changes = await settled(server, 2);
    const byId = new Map(changes.map((x) => [x.id, x]));
    expect(byId.get(a.id)).to.include({ state: 'landed', landed: moved });
    expect(byId.get(b.id).state).to.equal('landed');
    const main = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(main).to.equal(byId.get(b.id).landed);
    // Landed once: a's commit is on main exactly once, and main's first-parent history holds each landing once.
    expect(git(repo.bare, 'rev-list', '--count', `${before}..${main}`, '--', 'a.txt')).to.equal('1');
    const firstParents = git(repo.bare, 'rev-list', '--first-parent', `${before}..${main}`).split('\n');
    expect(firstParents).to.deep.equal([main, moved]);
    expect(git(repo.bare, 'ls-tree', '--name-only', 'main').split('\n')).to.include.members(['a.txt', 'b.txt']);
  });
});
