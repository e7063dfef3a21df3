import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postForm } from '../ui/fixtures.js';
import {
  ADMIN_TOKEN, CLI, RUNNER_TOKEN, Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig,
} from '../helpers.js';

const ALICE_TOKEN = 'alice-admin-token-0123456789abcdef';

/** `greengate build …` against the server; its exit status and output. */
function cliBuild(server: ServerProcess, tokenFile: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'build', '--server', server.url, '--admin-token-file', tokenFile, ...args],
    { encoding: 'utf8', env: { ...process.env, GREENGATE_ADMIN_TOKEN: '' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('hand-started builds with params, and re-running what failed (real server, runner and CLI)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: Awaited<ReturnType<typeof connectRunner>> | undefined;
  let tokenFile: string;
  let red: any;

  before(async () => {
    home = tempHome('gg-manual-');
    const repo = new Repo(home.dir);
    repo.commit({ 't/a.sh': 'true\n', 't/b.sh': 'echo "b is broken"; exit 1\n', 't/c.sh': 'true\n' }, 'three checks, one red');
    repo.push();
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{
      name: 'unit', tests: 't/*.sh', run: 'echo "target=$TARGET"; for f in "$@"; do sh "$f" || exit 1; done', timeout: 30,
      split: 'static', params: [{ name: 'TARGET', default: 'staging', choices: ['staging', 'production'] }],
    } as any] }], { admins: [{ name: 'alice', token: ALICE_TOKEN }] });
    tokenFile = join(home.dir, 'alice.token');
    writeFileSync(tokenFile, `${ALICE_TOKEN}\n`, { mode: 0o600 });
    server = await new ServerProcess(config).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 3 });
    const [first] = await server.builds();
    red = await server.waitForBuild(first.id);
  });
  after(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  it('a push build runs with the params\' defaults in its environment, shown in the API', async () => {
    expect(red.result).to.equal('failed');
    expect(red.cause).to.equal(null);
    expect(red.params).to.deep.equal({ TARGET: 'staging' });
    expect(await server.api(`/api/builds/${red.id}/log`)).to.contain('target=staging');
  });

  it('refuses POST /api/repos/:repo/builds and /rerun-failed without credentials or with a non-admin token, creating nothing', async () => {
    const before = (await server.builds()).length;
    for (const headers of [{}, { Authorization: `Bearer ${RUNNER_TOKEN}` }, { Authorization: 'Bearer not-an-admin-token-at-all' }] as Record<string, string>[]) {
      const start = await fetch(`${server.url}/api/repos/shop/builds`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ branch: 'main', params: { TARGET: 'production' } }) });
      expect(start.status).to.equal(401);
      expect((await start.json()).error.code).to.equal('GG_ADMIN_TOKEN');
      const rerun = await fetch(`${server.url}/api/builds/${red.id}/rerun-failed`, { method: 'POST', headers });
      expect(rerun.status).to.equal(401);
    }
    expect((await server.builds()).length).to.equal(before);
  });

  it('greengate build --param starts the head with that value in the unit\'s environment, recording the admin', async () => {
    const r = cliBuild(server, tokenFile, '--repo', 'shop', '--branch', 'main', '--param', 'TARGET=production', '--builder', 'unit');
    expect(r.status, r.out).to.equal(0);
    const id = Number(/queued build (\d+)/.exec(r.out)![1]);
    const b = await server.waitForBuild(id);
    expect(b.sha).to.equal(red.sha);
    expect(b.cause).to.deep.equal({ kind: 'manual', startedBy: 'alice', rebuildOf: null });
    expect(b.params).to.deep.equal({ TARGET: 'production' });
    const log = await server.api(`/api/builds/${id}/log`);
    expect(log).to.contain('target=production');
    expect(log).not.to.contain('target=staging');
    // A rebuild of it keeps its params, recorded as a rebuild by the admin who asked.
    const res = await fetch(`${server.url}/api/builds/${id}/rebuild`, { method: 'POST', headers: { Authorization: `Bearer ${ALICE_TOKEN}` } });
    const again = await server.waitForBuild((await res.json()).build);
    expect(again.cause).to.deep.equal({ kind: 'rebuild', startedBy: 'alice', rebuildOf: id });
    expect(again.params).to.deep.equal({ TARGET: 'production' });
    expect(await server.api(`/api/builds/${again.id}/log`)).to.contain('target=production');
  });

  it('greengate build refuses an undeclared param, a value outside its choices and a bad --param, naming the fix', async () => {
    const before = (await server.builds()).length;
    const unknown = cliBuild(server, tokenFile, '--param', 'PATH=/tmp');
    expect(unknown.status).to.equal(1);
    expect(unknown.out).to.contain('GG_BAD_PARAM').and.to.contain('unknown param "PATH"').and.to.contain('TARGET');
    const choice = cliBuild(server, tokenFile, '--param', 'TARGET=$(reboot)');
    expect(choice.status).to.equal(1);
    expect(choice.out).to.contain('GG_BAD_PARAM');
    const outside = cliBuild(server, tokenFile, '--param', 'TARGET=qa');
    expect(outside.status).to.equal(1);
    expect(outside.out).to.contain('must be one of staging, production');
    const shape = cliBuild(server, tokenFile, '--param', 'no-equals');
    expect(shape.status).to.equal(2);
    expect(shape.out).to.contain('is not NAME=VALUE');
    const noToken = spawnSync(process.execPath, [CLI, 'build', '--server', server.url], { encoding: 'utf8', env: { ...process.env, GREENGATE_ADMIN_TOKEN: '' } });
    expect(noToken.status).to.equal(1);
    expect(noToken.stderr).to.contain('--admin-token-file');
    expect((await server.builds()).length).to.equal(before);
  });

  it('POST /api/builds/:id/rerun-failed builds the same commit running only the failed unit\'s files, as a rebuild of it', async () => {
    const firstAttempts = red.units.filter((u: any) => u.attempt === 1).map((u: any) => ({ files: u.files, result: u.result }));
    expect(firstAttempts).to.deep.equal([{ files: ['t/a.sh'], result: 'passed' }, { files: ['t/b.sh'], result: 'failed' }, { files: ['t/c.sh'], result: 'passed' }]);
    const res = await fetch(`${server.url}/api/builds/${red.id}/rerun-failed`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).to.equal(202);
    const { build } = await res.json();
    const b = await server.waitForBuild(build);
    expect(b.sha).to.equal(red.sha);
    expect(b.units.filter((u: any) => u.attempt === 1).map((u: any) => u.files)).to.deep.equal([['t/b.sh']]);
    expect(b.units.flatMap((u: any) => u.files)).not.to.include.members(['t/a.sh']).and.not.to.include.members(['t/c.sh']);
    expect(b.cause).to.deep.equal({ kind: 'rerun', startedBy: 'admin', rebuildOf: red.id });
    expect(b.result).to.equal('failed');
  });

  it('the page buttons: refused (403) without an admin session or its CSRF token; with them, "build now" and "re-run failed" start builds shown as such', async () => {
    const before = (await server.builds()).length;
    const visitor = await (await fetch(`${server.url}/builds/${red.id}`)).text();
    expect(visitor).not.to.contain('re-run failed');
    expect(await (await fetch(`${server.url}/`)).text()).not.to.contain('action="/build-now"');
    expect((await postForm(server.url, '/build-now', { repo: 'shop', branch: 'main' })).status).to.equal(403);
    expect((await postForm(server.url, `/builds/${red.id}/rerun-failed`, {})).status).to.equal(403);
    const login = await postForm(server.url, '/login', { token: ALICE_TOKEN, next: '/' });
    expect(login.status).to.equal(303);
    const cookie = /^(gg_admin=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1];
    expect((await postForm(server.url, '/build-now', { repo: 'shop', branch: 'main', _csrf: 'forged' }, cookie)).status).to.equal(403);
    expect((await postForm(server.url, `/builds/${red.id}/rerun-failed`, {}, cookie)).status).to.equal(403);
    expect((await server.builds()).length).to.equal(before);

    const waterfall = await (await fetch(`${server.url}/`, { headers: { cookie } })).text();
    expect(waterfall).to.contain('action="/build-now"').and.to.contain('value="TARGET=staging"');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(waterfall)![1];
    const now = await postForm(server.url, '/build-now', { repo: 'shop', branch: 'main', builder: 'unit', params: 'TARGET=production', _csrf: csrf }, cookie);
    expect(now.status).to.equal(303);
    const id = Number(/\/builds\/(\d+)$/.exec(now.headers.get('location')!)![1]);
    const page = await (await fetch(`${server.url}/builds/${id}`, { headers: { cookie } })).text();
    expect(page).to.contain('started by hand by alice').and.to.contain('<code>TARGET=production</code>');
    await server.waitForBuild(id);
    expect(await (await fetch(`${server.url}/builds/${red.id}`, { headers: { cookie } })).text()).to.contain('re-run failed');
    const rerun = await postForm(server.url, `/builds/${red.id}/rerun-failed`, { _csrf: csrf }, cookie);
    expect(rerun.status).to.equal(303);
    const rerunId = Number(/\/builds\/(\d+)$/.exec(rerun.headers.get('location')!)![1]);
    expect((await server.build(rerunId)).cause).to.deep.equal({ kind: 'rerun', startedBy: 'alice', rebuildOf: red.id });
    const shown = await (await fetch(`${server.url}/builds/${rerunId}`)).text();
    expect(shown).to.contain(`re-run of what failed in <a href="/builds/${red.id}">build ${red.id}</a>, by alice`);
    await server.waitForBuild(rerunId);
  });
});

describe('scheduled builds (real server, real timers)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  after(async () => { await server?.kill(); home?.cleanup(); });

  it('a schedule every second builds the head of the first gated branch, shown as scheduled; a restart does not run a time twice', async () => {
    home = tempHome('gg-schedule-');
    const repo = new Repo(home.dir);
    const head = repo.commit({ 'a.txt': 'a' }, 'first');
    repo.push();
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' },
      { name: 'tick', run: 'true', schedule: '* * * * * *' } as any] }])).start();
    // The push's build of the head comes first (the start-up scan); the schedule's builds are the others.
    const push = await pollUntil(async () => (await server.builds()).find((x) => x.builder === 'tick'), 'the push build', 10_000);
    expect((await server.build(push.id)).cause).to.equal(null);
    const scheduled = async () => (await server.builds('limit=500')).filter((x) => x.builder === 'tick' && x.id !== push.id);
    const first = await pollUntil(async () => (await scheduled())[0], 'a scheduled build', 10_000);
    const b = await server.build(first.id);
    expect([b.sha, b.branch, b.cause]).to.deep.equal([head, 'main', { kind: 'schedule', startedBy: null, rebuildOf: null }]);
    expect(await (await fetch(`${server.url}/builds/${first.id}`)).text()).to.contain('scheduled');
    await server.kill();
    const stoppedAt = Date.now();
    const before = (await scheduled().catch(() => null)) ?? null;
    expect(before).to.equal(null); // the server is down
    await server.start();
    await pollUntil(async () => (await scheduled()).some((x) => x.createdAt >= stoppedAt), 'the missed times run after the restart', 10_000);
    // Once per second at most: never two builds for one time (the missed ones ran once, at start-up).
    const after = (await scheduled()).filter((x) => x.createdAt >= stoppedAt);
    const firstAfter = Math.min(...after.map((x) => x.createdAt));
    expect(after.length).to.be.at.most(Math.ceil((Date.now() - firstAfter) / 1000) + 1);
  });
});
