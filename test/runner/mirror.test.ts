import { expect } from 'chai';
import { startShopServer } from '../server/shopServer.js';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { RunningServer } from '../../server/main.js';
import { Mirrors } from '../../runner/mirror.js';
import { RUNNER_TOKEN, Repo, git, hangingGit, tempHome } from '../helpers.js';

/** A TCP relay in front of the server that counts the bytes the server sends. */
async function countingRelay(target: number): Promise<{ url: string; bytes: () => number; server: Server }> {
  let bytes = 0;
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    upstream.on('data', (d) => { bytes += d.length; });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bytes: () => bytes, server };
}

describe('runner mirrors (one per repository, fetched over HTTP)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: RunningServer;

  beforeEach(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    server = await startShopServer(home.dir, repo);
  });
  afterEach(async () => {
    await server.close();
    home.cleanup();
  });

  it('fetches a commit once, then only the new objects of the next one', async () => {
    const relay = await countingRelay(server.port);
    try {
      const mirrors = new Mirrors(join(home.dir, 'work'), relay.url, RUNNER_TOKEN);
      const big = repo.commit({ 'big.bin': randomBytes(1024 * 1024).toString('base64') }, 'a megabyte and more');
      repo.push();
      const dir = await mirrors.ensure({ name: 'shop', url: '/git/shop.git' }, big, 'refs/heads/main');
      expect(git(dir, 'rev-parse', 'refs/heads/main')).to.equal(big);
      const first = relay.bytes();
      expect(first).to.be.greaterThan(1024 * 1024);

      await mirrors.ensure({ name: 'shop', url: '/git/shop.git' }, big, 'refs/heads/main');
      expect(relay.bytes()).to.equal(first); // known: no request at all

      const small = repo.commit({ 'small.txt': 'a line\n' }, 'a small change');
      repo.push();
      await mirrors.ensure({ name: 'shop', url: '/git/shop.git' }, small, 'refs/heads/main');
      expect(git(dir, 'cat-file', '-t', small)).to.equal('commit');
      expect(relay.bytes() - first).to.be.lessThan(20 * 1024);
      expect(git(dir, 'config', 'gc.auto')).to.equal('0');
      expect(git(dir, 'config', 'remote.origin.url')).to.equal(`${relay.url}/git/shop.git`);
    } finally {
      relay.server.close();
    }
  });

  it('serializes concurrent fetches of one repository and serves both commits', async () => {
    const mirrors = new Mirrors(join(home.dir, 'work'), server.url, RUNNER_TOKEN);
    const a = repo.commit({ 'a.txt': 'a' }, 'a');
    repo.push();
    const b = repo.commit({ 'b.txt': 'b' }, 'b');
    expect(repo.push('HEAD:refs/try/b').ok).to.equal(true);
    const url = '/git/shop.git';
    const [da, db] = await Promise.all([
      mirrors.ensure({ name: 'shop', url }, a, 'refs/heads/main'), mirrors.ensure({ name: 'shop', url }, b, 'refs/try/b'),
      mirrors.ensure({ name: 'shop', url }, a, 'refs/heads/main'),
    ]);
    expect(da).to.equal(db);
    expect(git(da, 'rev-parse', 'refs/try/b')).to.equal(b);

    // A burst on an existing mirror: what is asked for during one fetch comes in the next, together.
    const burst: [string, string][] = [];
    for (const n of [1, 2, 3, 4]) {
      burst.push([repo.commit({ [`n${n}.txt`]: String(n) }, `burst ${n}`), `refs/heads/b${n}`]);
      expect(repo.push(`HEAD:refs/heads/b${n}`).ok).to.equal(true);
    }
    await Promise.all(burst.map(([sha, ref]) => mirrors.ensure({ name: 'shop', url }, sha, ref)));
    for (const [sha, ref] of burst) expect(git(da, 'rev-parse', ref)).to.equal(sha);
  });

  it('says which commit is missing where, and never sends the token with a wrong one', async () => {
    const wrong = new Mirrors(join(home.dir, 'w1'), server.url, 'not-the-token');
    const sha = repo.commit({ 'a.txt': 'a' }, 'a');
    repo.push();
    let err: Error | null = null;
    await wrong.ensure({ name: 'shop', url: '/git/shop.git' }, sha, 'refs/heads/main').catch((e: Error) => { err = e; });
    expect(String(err)).to.match(/401|Authentication failed|could not read Username/i).and.not.contain('not-the-token');

    const mirrors = new Mirrors(join(home.dir, 'w2'), server.url, RUNNER_TOKEN);
    const absent = 'f'.repeat(40);
    err = null;
    await mirrors.ensure({ name: 'shop', url: '/git/shop.git' }, absent, 'refs/heads/main').catch((e: Error) => { err = e; });
    expect(String(err)).to.contain(`commit ${absent} is not in ${server.url}/git/shop.git`);
  });

  it('fetches a repository\'s own cloneUrl directly', async () => {
    const mirrors = new Mirrors(join(home.dir, 'work'), 'http://127.0.0.1:9', RUNNER_TOKEN);
    const sha = repo.commit({ 'a.txt': 'a' }, 'a');
    repo.push();
    const dir = await mirrors.ensure({ name: 'shop', url: `file://${repo.bare}` }, sha, 'refs/heads/main');
    expect(existsSync(join(dir, 'HEAD'))).to.equal(true);
    expect(git(dir, 'cat-file', '-t', sha)).to.equal('commit');
  });
  it('on the server\'s host borrows the server\'s objects instead of fetching, unless told to fetch always', async () => {
    const relay = await countingRelay(server.port);
    try {
      const sha = repo.commit({ 'a.txt': 'a' }, 'a');
      repo.push();
      const local = new Mirrors(join(home.dir, 'local'), relay.url, RUNNER_TOKEN);
      // Units on several slots at once create the mirror once.
      const dirs = await Promise.all([1, 2, 3].map(() => local.ensure({ name: 'shop', url: '/git/shop.git', path: repo.bare }, sha, 'refs/heads/main')));
      const dir = dirs[0];
      expect(new Set(dirs).size).to.equal(1);
      expect(git(dir, 'cat-file', '-t', sha)).to.equal('commit');
      const next = repo.commit({ 'b.txt': 'b' }, 'b');
      repo.push();
      await local.ensure({ name: 'shop', url: '/git/shop.git', path: repo.bare }, next, 'refs/heads/main');
      expect(git(dir, 'cat-file', '-t', next)).to.equal('commit');
      expect(relay.bytes(), 'nothing went over HTTP').to.equal(0);
      expect(local.unborrow('shop', next), 'it was taken on trust').to.equal(true);

      // A readable repository that lacks the commit: taken on trust, then unborrowed and fetched.
      const other = new Repo(join(home.dir, 'other'), 'other');
      const stranger = new Mirrors(join(home.dir, 'stranger'), relay.url, RUNNER_TOKEN);
      const sdir = await stranger.ensure({ name: 'shop', url: '/git/shop.git', path: other.bare }, next, 'refs/heads/main');
      expect(() => git(sdir, 'cat-file', '-e', next)).to.throw();
      expect(stranger.unborrow('shop', next)).to.equal(true);
      expect(stranger.unborrow('shop', next), 'once').to.equal(false);
      await stranger.ensure({ name: 'shop', url: '/git/shop.git' }, next, 'refs/heads/main');
      expect(git(sdir, 'cat-file', '-t', next)).to.equal('commit');
      expect(relay.bytes()).to.be.greaterThan(0);

      const hiddenBefore = relay.bytes();
      const hidden = new Mirrors(join(home.dir, 'hidden'), relay.url, RUNNER_TOKEN);
      await hidden.ensure({ name: 'shop', url: '/git/shop.git', path: join(home.dir, 'not-there.git') }, next, 'refs/heads/main');
      expect(relay.bytes(), 'a path it cannot read: fetched').to.be.greaterThan(hiddenBefore);

      const before = relay.bytes();
      process.env.GREENGATE_RUNNER_FETCH = 'always';
      try {
        const always = new Mirrors(join(home.dir, 'always'), relay.url, RUNNER_TOKEN);
        await always.ensure({ name: 'shop', url: '/git/shop.git', path: repo.bare }, next, 'refs/heads/main');
      } finally {
        delete process.env.GREENGATE_RUNNER_FETCH;
      }
      expect(relay.bytes(), 'GREENGATE_RUNNER_FETCH=always: fetched').to.be.greaterThan(before);
    } finally {
      relay.server.close();
    }
  });
});

describe('runner mirrors: a failed one-request fetch is logged, then git fetches', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: RunningServer;
  let fake: ReturnType<typeof hangingGit>;
  beforeEach(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    server = await startShopServer(home.dir, repo);
    fake = hangingGit(home.dir, ' unpack-objects ', true);
  });
  afterEach(async () => {
    fake.restore();
    await server.close();
    home.cleanup();
  });

  it('says which mirror, URL and failure, and still gets the commit', async () => {
    const lines: string[] = [];
    const mirrors = new Mirrors(join(home.dir, 'work'), server.url, RUNNER_TOKEN, (line) => lines.push(line));
    const a = repo.commit({ 'a.txt': 'a' }, 'a');
    repo.push();
    const dir = await mirrors.ensure({ name: 'shop', url: '/git/shop.git' }, a, 'refs/heads/main');
    expect(lines, 'the first fetch is git\'s own: nothing to report').to.deep.equal([]);

    fake.hang(true); // the runner's `git unpack-objects` of a fetched pack now fails
    const b = repo.commit({ 'b.txt': 'b' }, 'b');
    repo.push();
    await mirrors.ensure({ name: 'shop', url: '/git/shop.git' }, b, 'refs/heads/main');
    expect(git(dir, 'cat-file', '-t', b), 'git\'s fetch got it').to.equal('commit');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.contain(`mirror ${dir}: the one-request fetch of 1 commit(s) from ${server.url}/git/shop.git failed`)
      .and.contain('git unpack-objects in').and.contain('fake git failure').and.contain('fetching with git instead');
    expect(lines[0]).to.not.contain(RUNNER_TOKEN);
  });
});
