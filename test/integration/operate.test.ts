import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse, stringify } from 'yaml';
import {
  ADMIN_TOKEN, CLI, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';

/** Operating a real `greengate serve`: SIGHUP reload, online backup, private data files. */
describe('operating the server (real process)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess | undefined;
  afterEach(async () => {
    await server?.kill();
    server = undefined;
    home.cleanup();
  });

  function editConfig(file: string, edit: (c: any) => void): void {
    const config = parse(readFileSync(file, 'utf8'));
    edit(config);
    writeFileSync(file, stringify(config));
  }

  it('SIGHUP applies gate lists, builders and the admin token live; a bad file keeps the running config and says why', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const file = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    server = await new ServerProcess(file).start();
    const running = server;
    const repos = async () => (await running.api('/api/repos'))[0];
    expect((await repos()).gate).to.deep.equal(['main']);

    editConfig(file, (c) => {
      c.repositories[0].gate = ['main', 'release'];
      c.repositories[0].builders.push({ name: 'lint', run: 'true' });
      c.adminToken = 'a-new-admin-token-789';
      c.runnerToken = 'a-new-runner-token-000';
    });
    running.child.kill('SIGHUP');
    await pollUntil(async () => (await repos()).gate.includes('release'), 'the reloaded gate list');
    expect((await repos()).builders).to.deep.equal(['unit', 'lint']);
    await pollUntil(() => /SIGHUP: reloaded .*applied .*adminToken.*needs a restart, not applied: runnerToken/.test(running.output), 'the reload report');
    const close = (token: string) => fetch(`${running.url}/api/tree/shop/release`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'reload test' }),
    });
    expect((await close(ADMIN_TOKEN)).status).to.equal(401);
    expect((await close('a-new-admin-token-789')).status).to.equal(200);
    // a push builds on both builders, the reloaded one too (the ref watcher takes the push in)
    const runner = startRunner(running.url, 'r1', home.dir);
    try {
      repo.commit({ 'a.txt': 'a' }, 'after the reload');
      expect(repo.push().ok).to.equal(true);
      const builds = await pollUntil(async () => { const b = await running.builds('repo=shop'); return b.length === 2 ? b : null; }, 'two builds');
      expect(builds.map((b: any) => b.builder).sort()).to.deep.equal(['lint', 'unit']);
    } finally {
      await stopChild(runner);
    }

    // A bad file: reported with the key path, nothing changes, the server keeps serving.
    editConfig(file, (c) => { c.repositories[0].gate = ['main']; c.repositories[0].builders[0].tiemout = 5; });
    const before = running.output.length;
    running.child.kill('SIGHUP');
    await pollUntil(() => running.output.slice(before).includes('not reloaded'), 'the refusal');
    expect(running.output.slice(before)).to.contain('repositories[0].builders[0].tiemout').and.to.contain('did you mean "timeout"');
    expect((await repos()).gate).to.deep.equal(['main', 'release']);
    expect(running.child.exitCode).to.equal(null);
  });

  it('backs up the database while the server runs; the copy opens and holds the builds', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const file = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'echo hi' }] }]);
    server = await new ServerProcess(file).start();
    const running = server;
    const runner = startRunner(running.url, 'r1', home.dir);
    try {
      repo.commit({ 'a.txt': 'a' }, 'one');
      expect(repo.push().ok).to.equal(true);
      const build = await pollUntil(async () => (await running.builds('repo=shop'))[0], 'the build');
      await running.waitForBuild(build.id);
    } finally {
      await stopChild(runner);
    }
    const dest = join(home.dir, 'backup', 'gg.db');
    const noDir = spawnSync(process.execPath, [CLI, 'backup', dest, '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(noDir.status).to.equal(1);
    expect(noDir.stderr).to.contain('cannot back up');
    const out = join(home.dir, 'gg-backup.db');
    const r = spawnSync(process.execPath, [CLI, 'backup', out, '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/backed up .*greengate\.db to .*gg-backup\.db: \d+ bytes, 1 builds/);
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const copy = new Database(out, { readonly: true });
    try {
      expect((copy.prepare('SELECT count(*) AS n FROM builds WHERE result = ?').get('passed') as { n: number }).n).to.equal(1);
    } finally {
      copy.close();
    }
    expect(existsSync(`${out}.partial-${r.pid}`)).to.equal(false);
    expect((await running.api('/healthz')).ok).to.equal(true);
  });

  it('prunes old builds and logs at start-up by retention:, keeping the build that decides the tree', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const file = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'echo output' }] }]);
    server = await new ServerProcess(file).start();
    const running = server;
    const runner = startRunner(running.url, 'r1', home.dir);
    const ids: number[] = [];
    try {
      for (const n of [1, 2]) {
        repo.commit({ 'a.txt': String(n) }, `push ${n}`);
        expect(repo.push().ok).to.equal(true);
        const b = await pollUntil(async () => (await running.builds('repo=shop')).find((x: any) => !ids.includes(x.id)), `build ${n}`);
        await running.waitForBuild(b.id);
        ids.push(b.id);
      }
    } finally {
      await stopChild(runner);
    }
    await running.kill();
    const db = new Database(join(home.dir, 'data', 'greengate.db'));
    db.prepare('UPDATE builds SET finished_at = 1000').run(); // both finished in 1970
    db.close();
    editConfig(file, (c) => { c.retention = { logsDays: 1, buildsDays: 1 }; });
    await running.start();
    await pollUntil(async () => (await fetch(`${running.url}/api/builds/${ids[0]}`)).status === 404, 'the old build to be pruned at start-up');
    const kept = await running.build(ids[1]); // the newest: it decides the tree and starts the next blamelist
    expect(kept.result).to.equal('passed');
    expect(await running.api(`/api/units/${kept.units[0].id}/log`)).not.to.contain('output');
  });

  it('creates the data directory 0700 and the database, -wal and -shm 0600, and fixes older files', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const file = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    server = await new ServerProcess(file).start();
    const data = join(home.dir, 'data');
    const mode = (f: string) => statSync(f).mode & 0o777;
    expect(mode(data)).to.equal(0o700);
    for (const f of ['greengate.db', 'greengate.db-wal', 'greengate.db-shm']) expect(mode(join(data, f)), f).to.equal(0o600);
    await server.kill();
    // an install from before: world-readable files are made private at the next start
    spawnSync('chmod', ['0755', data]);
    spawnSync('chmod', ['0644', join(data, 'greengate.db')]);
    await server.start();
    expect(mode(data)).to.equal(0o700);
    expect(mode(join(data, 'greengate.db'))).to.equal(0o600);
  });
});
