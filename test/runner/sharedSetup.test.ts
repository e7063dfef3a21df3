import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Workspaces } from '../../runner/workspace.js';
import { Repo, git, tempHome } from '../helpers.js';

/** Real workspaces, git and cp: the "setup" is what the test writes into node_modules before markSetupDone. */
describe('runner/sharedSetup: one setup per runner, shared by its slots', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  const spec = { setup: 'npm ci', cache: null };
  beforeEach(() => {
    home = tempHome();
    repo = new Repo(home.dir);
  });
  afterEach(() => home.cleanup());

  function install(dir: string, what: string): void {
    mkdirSync(join(dir, 'node_modules', 'dep'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'dep', 'index.js'), what);
  }

  it('a second slot needing the same key waits for the first slot\'s setup and takes a copy (not links) of its paths', async () => {
    const sha = repo.commit({ 'package-lock.json': 'lock-v1', 'a.js': 'a' }, 'first');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    const first = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, spec);
    expect(first.needsSetup).to.equal(true);
    expect(first.cache!.hit).to.equal(false);
    let setupDone = false;
    const second = ws.prepare({ name: 'shop', url: repo.bare }, 1, 1, sha, spec).then((r) => ({ ...r, afterSetup: setupDone }));
    // The first slot's "setup": a real process taking a moment, then done.
    execFileSync('sleep', ['0.5']);
    install(first.dir, 'v1');
    setupDone = true;
    ws.markSetupDone('shop', 0);
    const got = await second;
    expect(got.afterSetup, 'the second slot resolved only once the setup was done').to.equal(true);
    expect(got.cache!.hit).to.equal(true);
    expect(got.cache!.message).to.contain('copied node_modules from slot 0');
    expect(readFileSync(join(got.dir, 'node_modules', 'dep', 'index.js'), 'utf8')).to.equal('v1');
    // A unit writing into its copy does not change the other slot's.
    writeFileSync(join(got.dir, 'node_modules', 'dep', 'index.js'), 'patched by a test');
    expect(readFileSync(join(first.dir, 'node_modules', 'dep', 'index.js'), 'utf8')).to.equal('v1');
    // The copy is a kept cache too: the next build in slot 1 keeps it without copying again.
    ws.markSetupDone('shop', 1);
    const again = await ws.prepare({ name: 'shop', url: repo.bare }, 1, 2, sha, spec);
    expect(again.cache!.hit).to.equal(true);
    expect(again.cache!.message).to.not.contain('copied');
  });

  it('when the first slot\'s setup fails, a waiting slot runs setup itself', async () => {
    const sha = repo.commit({ 'package-lock.json': 'lock-v1' }, 'first');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, spec);
    const second = ws.prepare({ name: 'shop', url: repo.bare }, 1, 1, sha, spec);
    ws.reset('shop', 0); // setup failed
    const got = await second;
    expect(got.cache!.hit).to.equal(false);
    expect(got.cache!.message).to.not.contain('copied');
    // It holds the key now: a third slot waits for it, not for slot 0.
    const third = ws.prepare({ name: 'shop', url: repo.bare }, 2, 1, sha, spec);
    install(got.dir, 'from slot 1');
    ws.markSetupDone('shop', 1);
    expect((await third).cache!.message).to.contain('copied node_modules from slot 1');
  });

  it('a unit that ends without finishing its setup releases the slots waiting for it', async () => {
    const sha = repo.commit({ 'package-lock.json': 'lock-v1' }, 'first');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, spec);
    const second = ws.prepare({ name: 'shop', url: repo.bare }, 1, 1, sha, spec);
    ws.endUnit('shop', 0); // e.g. the sandbox could not start
    expect((await second).cache!.hit).to.equal(false);
  });

  it('a slot whose key differs does not wait for another slot\'s setup', async () => {
    const one = repo.commit({ 'package-lock.json': 'lock-v1' }, 'first');
    const two = repo.commit({ 'package-lock.json': 'lock-v2' }, 'a new dependency');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, one, spec); // setting up lock-v1, never finished here
    const other = await ws.prepare({ name: 'shop', url: repo.bare }, 1, 2, two, spec);
    expect(other.cache!.hit).to.equal(false);
    expect(other.cache!.message).to.not.contain('copied');
  });

  it('never copies through a link the commit tracks: the target folder must resolve inside the workspace', async () => {
    const outside = join(home.dir, 'outside');
    mkdirSync(outside);
    const cache = [{ paths: ['lib/node_modules'], key: ['package-lock.json'] }];
    const safe = repo.commit({ 'package-lock.json': 'lock-v1', 'lib/index.js': 'x' }, 'first');
    git(repo.work, 'rm', '-rq', 'lib');
    symlinkSync(outside, join(repo.work, 'lib'));
    const linked = repo.commit({}, 'lib is a link out of the workspace');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    const first = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, safe, { setup: 'npm ci', cache });
    mkdirSync(join(first.dir, 'lib', 'node_modules'), { recursive: true });
    writeFileSync(join(first.dir, 'lib', 'node_modules', 'dep.js'), 'dep');
    ws.markSetupDone('shop', 0);
    const got = await ws.prepare({ name: 'shop', url: repo.bare }, 1, 2, linked, { setup: 'npm ci', cache });
    expect(existsSync(join(outside, 'node_modules')), 'nothing written through the link').to.equal(false);
    expect(got.cache!.hit).to.equal(false);
    expect(got.cache!.message).to.contain('copying from another slot failed').and.contain('outside the workspace');
  });

  it('never copies between repositories, even when their setup and lockfile are the same', async () => {
    const other = new Repo(join(home.dir, 'other'));
    const sha = repo.commit({ 'package-lock.json': 'lock-v1' }, 'first');
    const otherSha = other.commit({ 'package-lock.json': 'lock-v1' }, 'the same lockfile elsewhere');
    repo.push();
    other.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    const first = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, spec);
    install(first.dir, 'planted by shop\'s unit');
    ws.markSetupDone('shop', 0);
    const got = await ws.prepare({ name: 'other', url: other.bare }, 1, 2, otherSha, spec);
    expect(got.cache!.hit).to.equal(false);
    expect(existsSync(join(got.dir, 'node_modules')), 'nothing copied from the shop repository').to.equal(false);
  });

  it('a slot scrubbed after a unit of a builder without setup lends nothing any more', async () => {
    const sha = repo.commit({ 'package-lock.json': 'lock-v1' }, 'first');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    const first = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, spec);
    install(first.dir, 'v1');
    ws.markSetupDone('shop', 0);
    ws.scrub('shop', 0); // the slot's next unit was a lint builder's: its workspace is cleaned, node_modules gone
    const got = await ws.prepare({ name: 'shop', url: repo.bare }, 1, 2, sha, spec);
    expect(got.cache!.message).to.not.contain('copied');
    expect(got.cache!.hit).to.equal(false);
  });
});
