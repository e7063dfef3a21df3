import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
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
});
