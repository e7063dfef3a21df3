import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { downloadArtifacts, uploadArtifacts, type ArtifactTransfer } from '../../runner/artifacts.js';
import { artifactsForUnit } from '../../server/artifacts/handoff.js';
import { artifactShop, type ArtifactShop } from '../artifactFixtures.js';
import { RUNNER_TOKEN } from '../helpers.js';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

describe('runner/artifacts: upload from the workspace, download into the next one', function () {
  this.timeout(30_000);
  let shop: ArtifactShop;
  let lines: string[];
  const transfer = (name: 'unit' | 'pack'): ArtifactTransfer => {
    const a = shop.of(name);
    return { server: shop.server.url, unit: a.unit, token: a.unitToken!, log: (l) => lines.push(l) };
  };
  beforeEach(async () => { shop = await artifactShop(); lines = []; });
  afterEach(async () => { await shop.close(); });

  it('uploads the matching files, never a symbolic link or a linked folder leading out of the workspace (and logs each skip)', async () => {
    const ws = join(shop.home.dir, 'ws');
    mkdirSync(join(ws, 'dist', 'deep'), { recursive: true });
    writeFileSync(join(ws, 'dist', 'app.js'), 'app\n');
    writeFileSync(join(ws, 'dist', 'deep', 'empty.txt'), '');
    writeFileSync(join(shop.home.dir, 'runner-token'), RUNNER_TOKEN);
    symlinkSync(join(shop.home.dir, 'runner-token'), join(ws, 'dist', 'token')); // a pushed test linking the runner's token file
    symlinkSync('/etc/passwd', join(ws, 'dist', 'passwd'));
    symlinkSync('/etc', join(ws, 'dist', 'etc'));
    symlinkSync('app.js', join(ws, 'dist', 'same.js')); // inside the workspace: its content is uploaded
    writeFileSync(join(ws, 'README'), 'not matched\n');
    const report = await uploadArtifacts(ws, ['dist/**'], transfer('unit'));
    expect(report.error).to.equal(null);
    const stored = shop.server.store.artifacts.byBuild(shop.of('unit').build);
    expect(stored.map((a) => a.path)).to.deep.equal(['dist/app.js', 'dist/deep/empty.txt', 'dist/same.js']);
    expect(stored.every((a) => a.sha256 === sha('app\n') || a.sha256 === sha(''))).to.equal(true);
    const log = lines.join('\n');
    expect(log).to.contain('artifact dist/token not uploaded: it is a symbolic link to a file outside the workspace');
    expect(log).to.contain('artifact dist/passwd not uploaded: it is a symbolic link to a file outside the workspace');
    expect(log).not.to.contain(RUNNER_TOKEN);
  });

  it('reports a refused upload (a size limit) as the unit\'s error, naming the file, its size and the limit', async () => {
    await shop.close();
    shop = await artifactShop({ artifactLimits: { maxFileBytes: 1024 } });
    const ws = join(shop.home.dir, 'ws');
    mkdirSync(join(ws, 'dist'), { recursive: true });
    writeFileSync(join(ws, 'dist', 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
    const report = await uploadArtifacts(ws, ['dist/**'], transfer('unit'));
    expect(report.error).to.contain('dist/big.bin').and.contain('8388608 bytes').and.contain('1024 bytes').and.contain('artifactLimits.maxFileBytes');
  });

  it('downloads the artifacts of the steps a unit needs into its workspace, sha256 checked, replacing a checked-in link', async () => {
    const ws = join(shop.home.dir, 'ws');
    mkdirSync(join(ws, 'dist'), { recursive: true });
    writeFileSync(join(ws, 'dist', 'app.js'), 'built\n');
    expect((await uploadArtifacts(ws, ['dist/**'], transfer('unit'))).error).to.equal(null);
    const build = shop.of('unit').build;
    const refs = artifactsForUnit(shop.server.store, build, ['unit']);
    expect(refs.map((r) => r.path)).to.deep.equal(['dist/app.js']);
    expect(artifactsForUnit(shop.server.store, build, [])).to.deep.equal([]);
    expect(artifactsForUnit(shop.server.store, build, ['lint'])).to.deep.equal([]);

    const next = join(shop.home.dir, 'next');
    mkdirSync(join(next, 'dist'), { recursive: true });
    symlinkSync('/etc/hostname', join(next, 'dist', 'app.js')); // a checked-in link is replaced, never written through
    await downloadArtifacts(next, refs, transfer('pack'));
    expect(lstatSync(join(next, 'dist', 'app.js')).isSymbolicLink()).to.equal(false);
    expect(readFileSync(join(next, 'dist', 'app.js'), 'utf8')).to.equal('built\n');

    const other = join(shop.home.dir, 'other');
    mkdirSync(other);
    const wrong = [{ ...refs[0], sha256: 'f'.repeat(64) }];
    let err: Error | null = null;
    await downloadArtifacts(other, wrong, transfer('pack')).catch((e: Error) => { err = e; });
    expect(String(err)).to.contain('dist/app.js').and.contain('expected');
    expect(existsSync(join(other, 'dist', 'app.js'))).to.equal(false);
    err = null;
    await downloadArtifacts(other, [{ ...refs[0], path: '../outside' }], transfer('pack')).catch((e: Error) => { err = e; });
    expect(String(err)).to.contain('not inside the workspace');
  });
});
