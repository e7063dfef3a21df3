import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Blobs } from '../../../server/artifacts/blobs.js';
import { GgError } from '../../../server/errors.js';
import { tempHome } from '../../helpers.js';

describe('artifacts/blobs: content-addressed files, streamed', () => {
  let home: ReturnType<typeof tempHome>;
  let blobs: Blobs;
  beforeEach(() => { home = tempHome(); blobs = new Blobs(join(home.dir, 'data')); });
  afterEach(() => home.cleanup());
  const body = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));

  it('stores a body under its sha256 once, however often it is written', async () => {
    const a = await blobs.write(body('hello ', 'world'));
    const b = await blobs.write(body('hello world'));
    const sha = createHash('sha256').update('hello world').digest('hex');
    expect(a).to.deep.equal({ sha256: sha, size: 11 });
    expect(b).to.deep.equal(a);
    expect(readFileSync(blobs.pathOf(sha), 'utf8')).to.equal('hello world');
    expect(readdirSync(join(home.dir, 'data', 'artifacts', 'sha256', sha.slice(0, 2)))).to.deep.equal([sha.slice(2)]);
    expect(readdirSync(join(home.dir, 'data', 'artifacts', 'tmp'))).to.deep.equal([]);
  });

  it('stops a body over its limit or of the wrong length, keeping nothing', async () => {
    let err: unknown = null;
    await blobs.write(body('x'.repeat(100), 'y'.repeat(100)), { tooBig: (n) => (n > 150 ? `over 150: ${n}` : null) }).catch((e) => { err = e; });
    expect(err).to.be.instanceOf(GgError);
    expect((err as GgError).code).to.equal('GG_ARTIFACT_TOO_LARGE');
    err = null;
    await blobs.write(body('short'), { expected: 10 }).catch((e) => { err = e; });
    expect((err as GgError).code).to.equal('GG_BAD_BODY');
    expect(readdirSync(join(home.dir, 'data', 'artifacts', 'tmp'))).to.deep.equal([]);
    expect(() => blobs.pathOf('../../etc/passwd')).to.throw(GgError, 'not a sha256');
  });

  it('sweeps only the blobs no row names, past the grace time', async () => {
    const kept = await blobs.write(body('kept'));
    const gone = await blobs.write(body('gone'));
    expect(await blobs.sweep((s) => s === kept.sha256)).to.equal(0); // too young
    expect(await blobs.sweep((s) => s === kept.sha256, Date.now(), 0)).to.equal(1);
    expect((await blobs.open(kept.sha256)).size).to.equal(4);
    let err: unknown = null;
    await blobs.open(gone.sha256).catch((e) => { err = e; });
    expect((err as GgError).code).to.equal('GG_NOT_FOUND');
  });
});
