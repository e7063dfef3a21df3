import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RUNNER_TOKEN } from '../../helpers.js';
import { artifactShop, putArtifact, type ArtifactShop } from '../../artifactFixtures.js';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

describe('web/artifactsApi: uploads need the running unit\'s own credential', function () {
  this.timeout(20_000);
  let shop: ArtifactShop;
  beforeEach(async () => { shop = await artifactShop(); });
  afterEach(async () => { await shop.close(); });

  it('refuses an upload without credentials, with the runner token, a made-up token or another unit\'s token', async () => {
    const unit = shop.of('unit');
    const pack = shop.of('pack');
    for (const token of [undefined, RUNNER_TOKEN, 'f'.repeat(64), pack.unitToken]) {
      const res = await putArtifact(shop.server, unit.unit, 'dist/app.js', 'stolen', token);
      expect(res.status, String(token)).to.equal(401);
      const body = await res.json();
      expect(body.error.code).to.equal('GG_ARTIFACT_UNAUTHORIZED');
      expect(body.error.message).to.contain('unitToken');
    }
    expect(shop.server.store.artifacts.byBuild(unit.build)).to.deep.equal([]);
  });

  it('refuses the token of a unit that has finished', async () => {
    const unit = shop.of('unit');
    expect((await putArtifact(shop.server, unit.unit, 'dist/a.js', 'a', unit.unitToken)).status).to.equal(201);
    await shop.finish(unit.unit);
    const late = await putArtifact(shop.server, unit.unit, 'dist/b.js', 'b', unit.unitToken);
    expect(late.status).to.equal(401);
    expect(shop.server.store.artifacts.byBuild(unit.build).map((a) => a.path)).to.deep.equal(['dist/a.js']);
  });

  it('refuses, after a server restart, the credential of a unit assigned before it with a 401 that says so (credentials live in memory)', async () => {
    const unit = shop.of('unit');
    await shop.restart();
    expect(shop.server.store.units.get(unit.unit)?.state, 'still running: its runner may reconnect').to.equal('running');
    const res = await putArtifact(shop.server, unit.unit, 'dist/app.js', 'built', unit.unitToken);
    expect(res.status).to.equal(401);
    const body = await res.json();
    expect(body.error.code).to.equal('GG_ARTIFACT_UNAUTHORIZED');
    expect(body.error.message).to.match(new RegExp(`^unit ${unit.unit} was assigned before this server restarted: .*kept in memory only.*tried again with a new credential`));
    expect(body.error.message, 'never the token').not.to.contain(unit.unitToken!);
    const made = await putArtifact(shop.server, unit.unit, 'dist/app.js', 'built', 'f'.repeat(64));
    expect((await made.json()).error.message, 'the hint only for a unit assigned before the restart, whatever the token').to.match(/restarted/);
    expect(shop.server.store.artifacts.byBuild(unit.build)).to.deep.equal([]);
  });

  it('refuses paths outside the workspace or not normalized with 400 naming the path', async () => {
    const unit = shop.of('unit');
    for (const path of ['../escape', '/etc/passwd', 'dist/../../x', 'a//b', './a', 'a/./b', 'dist/', '.git/config', 'a\\b', '']) {
      const res = await putArtifact(shop.server, unit.unit, path, 'x', unit.unitToken);
      expect(res.status, path).to.equal(400);
      expect((await res.json()).error.code).to.equal('GG_ARTIFACT_PATH');
    }
  });

  it('stores an upload content-addressed (identical content once), lists it and downloads it without credentials', async () => {
    const unit = shop.of('unit');
    const pack = shop.of('pack');
    const content = 'console.log("app");\n'.repeat(1000);
    const up = await putArtifact(shop.server, unit.unit, 'dist/app.js', content, unit.unitToken);
    expect(up.status).to.equal(201);
    expect(await up.json()).to.include({ step: 'unit', path: 'dist/app.js', size: content.length, sha256: sha(content) });
    expect((await putArtifact(shop.server, pack.unit, 'dist/copy.js', content, pack.unitToken)).status).to.equal(201);
    const blobs = join(shop.home.dir, 'data', 'artifacts', 'sha256', sha(content).slice(0, 2));
    expect(readdirSync(blobs)).to.deep.equal([sha(content).slice(2)]);
    expect(readdirSync(join(shop.home.dir, 'data', 'artifacts', 'tmp'))).to.deep.equal([]);

    const list = await fetch(`${shop.server.url}/api/builds/${unit.build}/artifacts`);
    expect(list.status).to.equal(200);
    const items = await list.json();
    expect(items).to.have.length(1);
    expect(items[0]).to.include({ step: 'unit', path: 'dist/app.js', size: content.length, sha256: sha(content) });
    const file = await fetch(items[0].url.replace(shop.server.baseUrl, shop.server.url));
    expect(file.status).to.equal(200);
    expect(file.headers.get('content-type')).to.equal('application/octet-stream');
    expect(file.headers.get('content-length')).to.equal(String(content.length));
    expect(file.headers.get('content-disposition')).to.contain('attachment; filename="app.js"');
    expect(await file.text()).to.equal(content);
    expect((await fetch(`${shop.server.url}/api/artifacts/99999/download`)).status).to.equal(404);
    const page = await (await fetch(`${shop.server.url}/builds/${unit.build}`)).text();
    expect(page).to.contain('<h2>Artifacts').and.contain(`<a href="/api/artifacts/${items[0].id}/download" download>dist/app.js</a>`).and.contain('19.5 KiB');
    expect(existsSync(join(blobs, sha(content).slice(2)))).to.equal(true);
  });
});

describe('web/artifactsApi: size limits', function () {
  this.timeout(20_000);
  let shop: ArtifactShop;
  before(async () => { shop = await artifactShop({ artifactLimits: { maxFileBytes: 1000, maxBuildBytes: 1500 } }); });
  after(async () => { await shop.close(); });

  it('refuses a file over maxFileBytes and a build over maxBuildBytes, naming the file, its size, the limit and the key', async () => {
    const unit = shop.of('unit');
    const big = await putArtifact(shop.server, unit.unit, 'dist/big.bin', Buffer.alloc(1001), unit.unitToken);
    expect(big.status).to.equal(413);
    const e = (await big.json()).error;
    expect(e.code).to.equal('GG_ARTIFACT_TOO_LARGE');
    expect(e.message).to.contain('dist/big.bin').and.contain('1001 bytes').and.contain('1000 bytes').and.contain('artifactLimits.maxFileBytes');
    expect((await putArtifact(shop.server, unit.unit, 'dist/a.bin', Buffer.alloc(1000), unit.unitToken)).status).to.equal(201);
    const over = await putArtifact(shop.server, unit.unit, 'dist/b.bin', Buffer.alloc(600), unit.unitToken);
    expect(over.status).to.equal(413);
    expect((await over.json()).error.message).to.contain('dist/b.bin').and.contain('1600 bytes').and.contain('artifactLimits.maxBuildBytes');
    expect(shop.server.store.artifacts.byBuild(unit.build).map((a) => a.path)).to.deep.equal(['dist/a.bin']);
  });
});
