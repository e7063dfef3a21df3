import { expect } from 'chai';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADMIN_TOKEN, CLI, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';
import { SmallDisk } from '../fullDisk.js';
import { openStore } from '../../server/store/index.js';

/** Numbered lines, one every 20 ms, until the release file exists; then the count. */
function printer(release: string): string {
  const pad = 'x'.repeat(150);
  return `i=0\nwhile [ ! -f '${release}' ]; do\n  i=$((i+1))\n  echo "line $i ${pad}"\n  sleep 0.02\ndone\necho "total $i"\n`;
}

describe('a full data disk mid-build (real server, runner, tmpfs)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let disk: SmallDisk;
  let server: ServerProcess;
  let runner: ChildProcess | undefined;
  let release: string;

  before(async () => {
    home = tempHome();
    release = join(home.dir, 'release');
    disk = new SmallDisk(join(home.dir, 'data'), 16).mount();
    const repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'sh ./print.sh', timeout: 120,
      sandbox: { readOnly: [home.dir] } }] }]); // print.sh waits for a file this test writes in its home
    server = await new ServerProcess(config).start();
    runner = startRunner(server.url, 'r1', home.dir);
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    repo.commit({ 'print.sh': printer(release) }, 'print numbered lines until released');
    expect(repo.push().ok).to.equal(true);
  });
  after(async () => {
    if (release) writeFileSync(release, '');
    disk?.free();
    await stopChild(runner);
    await server?.kill();
    disk?.unmount();
    home?.cleanup();
  });

  const get = (path: string, init?: RequestInit) => fetch(server.url + path, init);
  const metric = async (line: RegExp) => Number(line.exec(await (await get('/metrics')).text())?.[1] ?? 0);
  const health = async () => (await get('/healthz')).json();

  it('keeps serving, refuses writes with 503, loses no log line, and completes the build once space returns', async () => {
    const build = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'the build');
    await pollUntil(async () => /line 20 /.test(await server.api(`/api/builds/${build.id}/log`)), 'output to be stored');

    disk.fill();
    const degraded = await pollUntil(async () => { const h = await health(); return h.status === 'degraded' ? h : null; },
      'the server to notice the full disk', 30_000, 100);
    expect(degraded.storage).to.include({ kind: 'full', code: 'SQLITE_FULL' });
    // Output the runner keeps sending is held back, not acked.
    await pollUntil(async () => await metric(/^greengate_storage_writes_held_back_total\{what="log"\} (\d+)$/m) >= 3,
      'log chunks to be held back', 20_000, 100);

    expect(server.child.exitCode).to.equal(null);
    expect((await get('/api/builds')).status).to.equal(200);
    const page = await get('/');
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain('id="storage-banner"');
    const rebuild = await get(`/api/builds/${build.id}/rebuild`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(rebuild.status).to.equal(503);
    const refused = (await rebuild.json()).error;
    expect(refused.code).to.equal('GG_STORAGE_FULL');
    expect(refused.message).to.match(/nothing stored before is lost\. Free space on that disk/);
    expect((await get(`/api/builds/${build.id}/cancel`, { method: 'POST' })).status).to.equal(503);
    expect(await metric(/^greengate_storage_errors_total\{kind="full"\} (\d+)$/m)).to.be.at.least(1);

    // The test ends while the disk is still full: its result waits on the runner too.
    writeFileSync(release, '');
    await pollUntil(async () => await metric(/^greengate_storage_writes_held_back_total\{what="finished"\} (\d+)$/m) >= 1,
      'the finished report to be held back', 20_000, 100);
    expect((await server.build(build.id)).state).not.to.equal('done');

    disk.free();
    await pollUntil(async () => (await health()).status === 'ok', 'the server to resume by itself', 20_000, 100);
    const done = await server.waitForBuild(build.id, 60_000);
    expect(done.result).to.equal('passed');

    const log: string = await server.api(`/api/builds/${build.id}/log`);
    const numbers = [...log.matchAll(/^line (\d+) x+$/gm)].map((m) => Number(m[1]));
    const total = Number(/^total (\d+)$/m.exec(log)?.[1]);
    expect(total).to.be.greaterThan(20);
    expect(numbers).to.deep.equal(Array.from({ length: total }, (_, i) => i + 1)); // every line once, in order
    expect(await (await get('/')).text()).not.to.contain('storage-banner');
    expect(server.output).not.to.match(/uncaught/i);
  });
});

describe('greengate serve on a full data disk', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let disk: SmallDisk;
  after(() => {
    disk?.unmount();
    home?.cleanup();
  });

  it('exits with a message naming the directory, the fault and the fix', () => {
    home = tempHome();
    disk = new SmallDisk(join(home.dir, 'data'), 4).mount();
    const repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    disk.fill();
    const serve = () => spawnSync(process.execPath, [CLI, 'serve', '--config', config, '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
    const message = new RegExp(`cannot open the database in ${disk.dir} \\(SQLITE_[A-Z_]+\\): its disk is full; free space on it and start again`);
    const fresh = serve();
    expect(fresh.status).to.equal(1);
    expect(fresh.stderr).to.match(message);
    // A database made before the disk filled up fails otherwise inside SQLite (its shared-memory file).
    disk.free();
    openStore(join(disk.dir, 'greengate.db')).close();
    disk.fill();
    const existing = serve();
    expect(existing.status).to.equal(1);
    expect(existing.stderr).to.match(message);
  });
});
