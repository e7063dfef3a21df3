import { expect } from 'chai';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkspaceError, Workspaces, verifyCheckout } from '../../runner/workspace.js';
import { Repo, git, tempHome } from '../helpers.js';

describe('runner/workspace: git in slots', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  beforeEach(() => {
    home = tempHome();
    repo = new Repo(home.dir);
  });
  afterEach(() => home.cleanup());

  it('never runs a hook planted in the slot\'s .git, nor with the runner token in reach', async () => {
    const first = repo.commit({ 'a.txt': 'a\n' }, 'first');
    const second = repo.commit({ 'a.txt': 'b\n' }, 'second');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    const { dir } = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, first);
    const marker = join(home.dir, 'hook-ran');
    // What a unit without a sandbox could do: hooks for the runner's next checkout and clean.
    mkdirSync(join(dir, '.git', 'hooks'), { recursive: true });
    for (const hook of ['post-checkout', 'reference-transaction', 'pre-auto-gc']) {
      writeFileSync(join(dir, '.git', 'hooks', hook), `#!/bin/sh\nenv >> '${marker}'\n`);
      chmodSync(join(dir, '.git', 'hooks', hook), 0o755);
    }
    process.env.GREENGATE_RUNNER_TOKEN = 'runner-token-in-env';
    try {
      const next = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 2, second);
      expect(git(next.dir, 'rev-parse', 'HEAD')).to.equal(second);
    } finally {
      delete process.env.GREENGATE_RUNNER_TOKEN;
    }
    expect(existsSync(marker)).to.equal(false);
  });

  it('verifies a checkout: HEAD at the commit and every tracked file as the commit has it', async () => {
    const first = repo.commit({ 'a.txt': 'a\n', 'src/b.txt': 'b\n' }, 'first');
    const second = repo.commit({ 'c.txt': 'c\n' }, 'second');
    repo.push();
    const ws = new Workspaces(join(home.dir, 'runner'));
    const { dir } = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, second);
    await verifyCheckout(dir, second);
    writeFileSync(join(dir, 'untracked.txt'), 'a cache entry or a build output\n');
    await verifyCheckout(dir, second);
    // What a checkout that "could not read" a tree leaves: tracked files missing.
    rmSync(join(dir, 'src'), { recursive: true });
    const missing = await verifyCheckout(dir, second).then(() => null, (e: Error) => e);
    expect(missing).to.be.instanceOf(WorkspaceError);
    expect(missing!.message).to.contain('incomplete').and.contain('src/b.txt');
    const elsewhere = await verifyCheckout(dir, first).then(() => null, (e: Error) => e);
    expect(elsewhere).to.be.instanceOf(WorkspaceError);
    expect(elsewhere!.message).to.contain(`left HEAD at ${second}`);
  });

  it('fails prepare with a WorkspaceError when the commit\'s objects are missing', async () => {
    const sha = repo.commit({ 'dir/file.txt': `only here ${Date.now()}\n` }, 'first');
    repo.push();
    const tree = git(repo.work, 'rev-parse', 'HEAD:dir');
    rmSync(join(repo.bare, 'objects', tree.slice(0, 2), tree.slice(2)));
    const ws = new Workspaces(join(home.dir, 'runner'));
    const err = await ws.prepare({ name: 'shop', url: repo.bare }, 0, 1, sha).then(() => null, (e: Error) => e);
    expect(err).to.be.instanceOf(WorkspaceError);
  });
});
