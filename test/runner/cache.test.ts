import { expect } from 'chai';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CACHES, excludeArgs, keyCaches, parseTree, readCacheKeys, writeCacheKeys } from '../../runner/cache.js';
import { Workspaces } from '../../runner/workspace.js';
import { Repo, git, tempHome } from '../helpers.js';

describe('runner/cache', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  beforeEach(() => { home = tempHome('gg-cache-'); repo = new Repo(home.dir); });
  afterEach(() => home.cleanup());

  const treeAt = (sha: string) => parseTree(git(repo.work, 'ls-tree', '-r', '-z', sha));

  it('keys the default node and python entries by package.json and the lockfiles at the commit, and only when one is there', () => {
    const none = repo.commit({ 'src/a.js': '1' }, 'no lockfile');
    expect(keyCaches(treeAt(none), null, 'npm ci')).to.deep.equal([]);
    const both = repo.commit({ 'package-lock.json': '{}', 'requirements-dev.txt': 'x', 'sub/yarn.lock': 'not at the root' }, 'lockfiles');
    const entries = keyCaches(treeAt(both), null, 'npm ci');
    expect(entries.map((e) => [e.paths, e.keyFiles])).to.deep.equal([
      [['node_modules'], ['package-lock.json']], [['.venv'], ['requirements-dev.txt']]]);
    const withManifest = repo.commit({ 'package.json': '{}' }, 'manifest beside the lockfile');
    expect(keyCaches(treeAt(withManifest), null, 'npm ci')[0].keyFiles).to.deep.equal(['package-lock.json', 'package.json']);
    expect(DEFAULT_CACHES).to.have.length(2);
  });

  it('changes the key with the key files\' content or the setup command, not with other files', () => {
    const a = repo.commit({ 'package-lock.json': 'v1', 'src/a.js': '1' }, 'a');
    const b = repo.commit({ 'src/a.js': '2' }, 'b');
    const c = repo.commit({ 'package-lock.json': 'v2' }, 'c');
    const key = (sha: string, setup = 'npm ci') => keyCaches(treeAt(sha), null, setup)[0].key;
    expect(key(b)).to.equal(key(a));
    expect(key(c)).to.not.equal(key(a));
    expect(key(a, 'npm install')).to.not.equal(key(a));
  });

  it('matches explicit key globs in subfolders and ignores an entry with an unsafe path', () => {
    const sha = repo.commit({ 'packages/x/package.json': '{}', 'packages/y/package.json': '{}', 'package.json': '{}' }, 'monorepo');
    const [entry, ...rest] = keyCaches(treeAt(sha), [
      { paths: ['**/node_modules'], key: ['packages/*/package.json'] },
      { paths: ['../escape'], key: ['package.json'] },
    ], 'npm i');
    expect(rest).to.deep.equal([]);
    expect(entry.keyFiles).to.deep.equal(['packages/x/package.json', 'packages/y/package.json']);
    expect(excludeArgs([entry, { ...entry, paths: ['.venv'] }])).to.deep.equal(['-e', '**/node_modules', '-e', '/.venv']);
  });

  it('reads unreadable or missing key files as no keys', () => {
    const file = join(home.dir, 'slot.cache.json');
    expect(readCacheKeys(file)).to.deep.equal({});
    writeFileSync(file, 'not json');
    expect(readCacheKeys(file)).to.deep.equal({});
    writeCacheKeys(file, [{ id: 'node_modules', paths: ['node_modules'], keyFiles: [], key: 'k1' }]);
    expect(readCacheKeys(file)).to.deep.equal({ node_modules: 'k1' });
  });

  describe('in a workspace (real git clone)', () => {
    const spec = { setup: 'install', cache: null };
    function install(dir: string): void {
      mkdirSync(join(dir, 'node_modules'), { recursive: true });
      writeFileSync(join(dir, 'node_modules', 'dep.js'), 'dep');
    }

    it('spares the kept path, cleans the rest, and drops the path when the key changes', async () => {
      const ws = new Workspaces(join(home.dir, 'work'));
      const first = repo.commit({ 'package-lock.json': 'v1' }, 'one');
      repo.push();
      const p1 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, first, spec);
      expect(p1.cache?.hit).to.equal(false);
      install(p1.dir);
      ws.markSetupDone('shop', 0);
      writeFileSync(join(p1.dir, 'junk.tmp'), 'left by a test');

      const second = repo.commit({ 'src.js': 'x' }, 'two');
      repo.push();
      const p2 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 2, second, spec);
      expect(p2).to.deep.include({ needsSetup: true });
      expect(p2.cache?.hit).to.equal(true);
      expect(existsSync(join(p2.dir, 'node_modules', 'dep.js'))).to.equal(true);
      expect(existsSync(join(p2.dir, 'junk.tmp'))).to.equal(false);
      ws.markSetupDone('shop', 0);

      // a runner restart: a new process finds the workspace dirty but its keys still good
      const again = new Workspaces(join(home.dir, 'work'));
      writeFileSync(join(p2.dir, 'junk.tmp'), 'left before the restart');
      const p3 = await again.prepare({ name: 'shop', url: repo.bare }, 0, 3, second, spec);
      expect(p3.cache?.hit).to.equal(true);
      expect(existsSync(join(p3.dir, 'junk.tmp'))).to.equal(false);
      again.markSetupDone('shop', 0);

      const third = repo.commit({ 'package-lock.json': 'v2' }, 'three');
      repo.push();
      const p4 = await again.prepare({ name: 'shop', url: repo.bare }, 0, 4, third, spec);
      expect(p4.cache?.hit).to.equal(false);
      expect(existsSync(join(p4.dir, 'node_modules'))).to.equal(false);
    });

    it('keeps node_modules of a project without a lockfile (keyed by package.json) and rebuilds it when package.json changes', async () => {
      const ws = new Workspaces(join(home.dir, 'work'));
      const first = repo.commit({ 'package.json': '{"name":"shop","devDependencies":{"mocha":"^10"}}' }, 'no lockfile');
      repo.push();
      const nospec = { setup: 'npm install', cache: null };
      const p1 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, first, nospec);
      expect(p1.cache?.hit).to.equal(false);
      expect(p1.cache?.message).to.include('node_modules (key: package.json)');
      install(p1.dir);
      ws.markSetupDone('shop', 0);

      const second = repo.commit({ 'test/a.test.js': 'x' }, 'a test, package.json unchanged');
      repo.push();
      const p2 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 2, second, nospec);
      expect(p2.cache?.hit).to.equal(true);
      expect(existsSync(join(p2.dir, 'node_modules', 'dep.js'))).to.equal(true);
      ws.markSetupDone('shop', 0);

      const third = repo.commit({ 'package.json': '{"name":"shop","devDependencies":{"mocha":"^11"}}' }, 'a new dependency');
      repo.push();
      const p3 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 3, third, nospec);
      expect(p3.cache?.hit).to.equal(false);
      expect(existsSync(join(p3.dir, 'node_modules'))).to.equal(false);
    });

    it('is not a hit after a setup that did not finish', async () => {
      const ws = new Workspaces(join(home.dir, 'work'));
      const sha = repo.commit({ 'package-lock.json': 'v1' }, 'one');
      repo.push();
      const p1 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, spec);
      install(p1.dir); // half an install, then setup fails: no markSetupDone
      ws.reset('shop', 0);
      const p2 = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 2, sha, spec);
      expect(p2.cache?.hit).to.equal(false);
      expect(existsSync(join(p2.dir, 'node_modules'))).to.equal(false);
    });

    it('keeps nothing for a builder without setup, and an explicit empty cache: keeps nothing', async () => {
      const ws = new Workspaces(join(home.dir, 'work'));
      const sha = repo.commit({ 'package-lock.json': 'v1' }, 'one');
      repo.push();
      expect((await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha, { setup: null, cache: null })).cache).to.equal(null);
      expect((await ws.prepare({ name: 'shop', url: repo.bare }, 1, 1, sha, { setup: 'npm ci', cache: [] })).cache).to.equal(null);
    });
  });
});
