import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../../server/store/index.js';
import { CLI, tempHome } from '../../helpers.js';

/** `greengate backup` as the service user runs it: the real CLI on a real database. */
describe('server/cli/backup', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => {
    home = tempHome('gg-backup-');
    openStore(join(home.dir, 'data', 'greengate.db')).close(); // a migrated database in WAL mode
  });
  afterEach(() => home.cleanup());

  const backup = (...args: string[]) => spawnSync(process.execPath, [CLI, 'backup', ...args], {
    encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, HOME: home.dir } }); // no GG_* variables set

  it('reads only data: from the configuration: tokens from unset environment variables do not stop it', () => {
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, 'data: ${GG_TEST_DATA:-./data}\nrunnerToken: ${GG_TEST_UNSET_RUNNER_TOKEN}\n' +
      'adminToken: ${GG_TEST_UNSET_ADMIN_TOKEN}\nrepositories:\n  - name: shop\n    path: /nowhere/shop.git\n    builders: [{ name: unit, run: "true" }]\n');
    const out = join(home.dir, 'out', 'gg.db');
    mkdirSync(join(home.dir, 'out'));
    const r = backup(out, '--config', file);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`backed up ${join(home.dir, 'data', 'greengate.db')} to ${out}`);
  });

  it('a data: with an unset variable is a config error naming the key', () => {
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, 'runnerToken: x\ndata: ${GG_TEST_UNSET_DATA}\n');
    const r = backup(join(home.dir, 'gg.db'), '--config', file);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/greengate\.yml:2:\d+: data: environment variable GG_TEST_UNSET_DATA is not set/);
  });

  it('leaves only FILE in the target folder (no .partial-*, -wal or -shm files), a copy that opens', () => {
    const dir = join(home.dir, 'out');
    mkdirSync(dir);
    const r = backup(join(dir, 'gg.db'), '--data', join(home.dir, 'data'));
    expect(r.status, r.stderr).to.equal(0);
    expect(readdirSync(dir)).to.deep.equal(['gg.db']);
    const copy = new Database(join(dir, 'gg.db'), { readonly: true });
    try {
      expect((copy.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n).to.be.greaterThan(0);
    } finally {
      copy.close();
    }
    expect(readdirSync(dir)).to.deep.equal(['gg.db']);
  });

  it('copies DATA/artifacts beside FILE (FILE.artifacts/sha256/…, 0600), without uploads in flight, and replaces an older copy', () => {
    const sha = 'ab' + 'c'.repeat(62);
    mkdirSync(join(home.dir, 'data', 'artifacts', 'sha256', 'ab'), { recursive: true });
    writeFileSync(join(home.dir, 'data', 'artifacts', 'sha256', 'ab', sha.slice(2)), 'report bytes\n');
    mkdirSync(join(home.dir, 'data', 'artifacts', 'tmp'));
    writeFileSync(join(home.dir, 'data', 'artifacts', 'tmp', 'upload-in-flight'), 'half');
    const dir = join(home.dir, 'out');
    mkdirSync(dir);
    mkdirSync(join(dir, 'gg.db.artifacts', 'sha256', 'ff'), { recursive: true }); // an older copy under the same name
    writeFileSync(join(dir, 'gg.db.artifacts', 'sha256', 'ff', 'f'.repeat(62)), 'stale');
    const r = backup(join(dir, 'gg.db'), '--data', join(home.dir, 'data'));
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`artifacts: 1 file, 13 bytes, copied to ${join(dir, 'gg.db.artifacts')}`);
    expect(readdirSync(dir).sort()).to.deep.equal(['gg.db', 'gg.db.artifacts']);
    expect(readdirSync(join(dir, 'gg.db.artifacts'))).to.deep.equal(['sha256']);
    expect(readdirSync(join(dir, 'gg.db.artifacts', 'sha256'))).to.deep.equal(['ab']);
    const copied = join(dir, 'gg.db.artifacts', 'sha256', 'ab', sha.slice(2));
    expect(readFileSync(copied, 'utf8')).to.equal('report bytes\n');
    expect(statSync(copied).mode & 0o777).to.equal(0o600);
  });

  it('with --no-artifacts copies the database alone', () => {
    mkdirSync(join(home.dir, 'data', 'artifacts', 'sha256', 'ab'), { recursive: true });
    writeFileSync(join(home.dir, 'data', 'artifacts', 'sha256', 'ab', 'c'.repeat(62)), 'x');
    const dir = join(home.dir, 'out');
    mkdirSync(dir);
    const r = backup(join(dir, 'gg.db'), '--data', join(home.dir, 'data'), '--no-artifacts');
    expect(r.status, r.stderr).to.equal(0);
    expect(readdirSync(dir)).to.deep.equal(['gg.db']);
  });
});
