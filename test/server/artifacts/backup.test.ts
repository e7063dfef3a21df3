import { expect } from 'chai';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsBackupDir, backupBlobs } from '../../../server/artifacts/backup.js';
import { tempHome } from '../../helpers.js';

/** The artifact blobs' copy of `greengate backup` on real folders (the CLI's own test: test/server/cli/backup.test.ts). */
describe('artifacts/backup', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-blobs-backup-'); });
  afterEach(() => home.cleanup());

  it('makes nothing when the data directory has no artifacts', async () => {
    mkdirSync(join(home.dir, 'data'));
    mkdirSync(join(home.dir, 'out'));
    expect(await backupBlobs(join(home.dir, 'data'), join(home.dir, 'out', 'gg.db'))).to.equal(null);
    expect(readdirSync(join(home.dir, 'out'))).to.deep.equal([]);
  });

  it('copies only content-addressed blobs, counting files and bytes, to FILE.artifacts', async () => {
    const blobs = join(home.dir, 'data', 'artifacts', 'sha256');
    mkdirSync(join(blobs, '01'), { recursive: true });
    mkdirSync(join(blobs, 'not-a-prefix'));
    writeFileSync(join(blobs, '01', '2'.repeat(62)), 'abc');
    writeFileSync(join(blobs, '01', 'stray.txt'), 'not a blob');
    writeFileSync(join(blobs, 'not-a-prefix', '3'.repeat(62)), 'no');
    mkdirSync(join(home.dir, 'out'));
    const dest = join(home.dir, 'out', 'gg.db');
    expect(await backupBlobs(join(home.dir, 'data'), dest)).to.deep.equal({ dir: artifactsBackupDir(dest), files: 1, bytes: 3 });
    expect(readdirSync(join(artifactsBackupDir(dest), 'sha256'))).to.deep.equal(['01']);
    expect(readdirSync(join(artifactsBackupDir(dest), 'sha256', '01'))).to.deep.equal(['2'.repeat(62)]);
    expect(readdirSync(join(home.dir, 'out')), 'no partial folder left').to.deep.equal(['gg.db.artifacts']);
  });
});
