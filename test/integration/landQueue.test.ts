import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, CLI, NODE_FLAGS, Repo, ServerProcess, git, tempHome, writeConfig } from '../helpers.js';

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
    expect(git(repo.bare, 'rev-parse', `refs/greengate/queue/${id}`)).to.equal(sha);
    expect(() => git(repo.bare, 'rev-parse', '--verify', '-q', 'refs/for/main')).to.throw(); // never a plain ref
    const q = await server.api('/api/queue/shop/main');
    expect(q).to.include({ repo: 'shop', branch: 'main', mode: 'queue-only', window: 3 });
    expect(q.changes[0]).to.include({ id, position: 1, state: 'queued', commit: sha, base, pusher: 'ada' });
    console.log(`      (whole git push to refs/for/main: ${took} ms)`);
  });

  it('refuses a direct push to a queue-only branch, pointing at refs/for/main', () => {
    const push = repo.push('HEAD:refs/heads/main');
    expect(push.ok).to.equal(false);
    expect(push.output).to.contain('main takes changes only through its land queue (land: queue-only)');
    expect(push.output).to.contain('git push origin HEAD:refs/for/main');
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(base);
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
    expect((await server.api('/api/queue/shop/main')).changes.map((c: any) => c.state)).to.deep.equal(['queued']);
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

