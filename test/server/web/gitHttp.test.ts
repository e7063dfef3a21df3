import { expect } from 'chai';
import { execFile, spawnSync, type ExecFileOptions } from 'node:child_process';
import { join } from 'node:path';
import type { RunningServer } from '../../../server/main.js';
import { parseConfig, type Config } from '../../../server/config/config.js';
import { cloneUrlOf, tokenFrom } from '../../../server/web/gitHttp.js';
import { RUNNER_TOKEN, Repo, git, gitEnv, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';

/** git as a child process, asynchronously (the server answering it runs in this process). */
function gitAsync(args: string[], opts: ExecFileOptions & { env: NodeJS.ProcessEnv }): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('git', args, { ...opts, encoding: 'utf8' }, (err, _stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr) });
    });
  });
}

/** git with the runner token in an Authorization header from the environment (never the command line). */
function gitWithToken(cwd: string, args: string[], token = RUNNER_TOKEN) {
  return gitAsync(args, {
    cwd, env: gitEnv({
      GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Bearer ${token}`,
    }),
  });
}

describe('code over HTTP (git smart HTTP, read-only, runner token)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: RunningServer;
  let url: string;

  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    repo.commit({ 'README': 'hello\n' }, 'first');
    repo.push();
    config = shopConfig(home.dir, repo, {
      more: [{ name: 'elsewhere', path: repo.bare, cloneUrl: 'https://git.example.com/elsewhere.git', builders: [{ name: 'unit', run: 'true' }] }] });
    server = await startShopServer(home.dir, repo, { config });
    url = `${server.url}${cloneUrlOf({ name: 'shop' })}`;
  });
  let config: Config;
  after(async () => {
    await server.close();
    home.cleanup();
  });

  it('answers 401 with a Basic challenge without the token or with a wrong one', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-000' }, { authorization: `Basic ${Buffer.from('x:nope').toString('base64')}` }]) {
      const res = await fetch(`${url}/info/refs?service=git-upload-pack`, { headers });
      expect(res.status).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.match(/^Basic realm="greengate"/);
      expect((await res.json()).error.code).to.equal('GG_GIT_UNAUTHORIZED');
    }
    const post = await fetch(`${url}/git-upload-pack`, { method: 'POST', body: '0000' });
    expect(post.status).to.equal(401);
    const r = await gitAsync(['ls-remote', url], { env: gitEnv({ GIT_TERMINAL_PROMPT: '0' }) });
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.match(/401|Authentication failed|could not read Username/i);
  });

  it('serves the advertisement with the token, as Bearer or as Basic password', async () => {
    for (const authorization of [`Bearer ${RUNNER_TOKEN}`, `Basic ${Buffer.from(`runner:${RUNNER_TOKEN}`).toString('base64')}`]) {
      const res = await fetch(`${url}/info/refs?service=git-upload-pack`, { headers: { authorization } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/x-git-upload-pack-advertisement');
      expect(await res.text()).to.contain('# service=git-upload-pack');
    }
    const v2 = { authorization: `Bearer ${RUNNER_TOKEN}`, 'git-protocol': 'version=2' };
    const answers = [];
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${url}/info/refs?service=git-upload-pack`, { headers: v2 });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/x-git-upload-pack-advertisement');
      answers.push(await res.text());
    }
    expect(answers[0]).to.contain('version 2').and.contain('fetch=');
    expect(answers[1]).to.equal(answers[0]); // the second one kept from the first
    expect((await fetch(`${url}/info/refs?service=git-upload-pack`, { headers: { 'git-protocol': 'version=2' } })).status).to.equal(401);
    expect(tokenFrom(undefined)).to.equal('');
    expect(tokenFrom('Basic !!!')).to.equal('');
  });

  it('clones with the token in an extra header, and fetches a commit no ref points at by its id', async () => {
    const dest = join(home.dir, 'clone');
    const r = await gitWithToken(home.dir, ['clone', '--quiet', '--mirror', url, dest]);
    expect(r.status, r.stderr).to.equal(0);
    expect(git(dest, 'rev-parse', 'refs/heads/main')).to.equal(git(repo.work, 'rev-parse', 'HEAD'));

    const lonely = repo.commit({ 'x.txt': 'x' }, 'pushed to a try ref, then deleted');
    expect(repo.push('HEAD:refs/try/gone').ok).to.equal(true);
    expect(repo.push(':refs/try/gone').ok).to.equal(true);
    const f = await gitWithToken(dest, ['fetch', '--quiet', '--no-tags', 'origin', `+${lonely}:refs/greengate/x`]);
    expect(f.status, f.stderr).to.equal(0);
    expect(git(dest, 'rev-parse', 'refs/greengate/x')).to.equal(lonely);
  });

  it('clones with HTTP Basic from a credential helper reading the token from the environment', async () => {
    const dest = join(home.dir, 'basic');
    const helper = '!f() { test "$1" = get && echo username=runner && echo "password=$GG_TOKEN"; }; f';
    const r = await gitAsync(['-c', `credential.helper=${helper}`, 'clone', '--quiet', '--bare', url, dest], {
      env: gitEnv({ GIT_TERMINAL_PROMPT: '0', GG_TOKEN: RUNNER_TOKEN }),
    });
    expect(r.status, r.stderr).to.equal(0);
  });

  it('refuses pushes with 403 even with the token, and anything but the smart fetch routes', async () => {
    const auth = { authorization: `Bearer ${RUNNER_TOKEN}` };
    const refs = await fetch(`${url}/info/refs?service=git-receive-pack`, { headers: auth });
    expect(refs.status).to.equal(403);
    expect((await refs.json()).error.code).to.equal('GG_GIT_READ_ONLY');
    expect((await fetch(`${url}/git-receive-pack`, { method: 'POST', headers: auth, body: '0000' })).status).to.equal(403);
    const push = await gitWithToken(repo.work, ['push', '--quiet', url, 'HEAD:refs/heads/sneaky']);
    expect(push.status).to.not.equal(0);
    expect(spawnSync('git', ['rev-parse', '--verify', '--quiet', 'refs/heads/sneaky'], { cwd: repo.bare }).status).to.not.equal(0);

    expect((await fetch(`${url}/HEAD`, { headers: auth })).status).to.equal(404);
    expect((await fetch(`${url}/objects/info/packs`, { headers: auth })).status).to.equal(404);
    expect((await fetch(`${url}/info/refs`, { headers: auth })).status).to.equal(404);
    const unknown = await fetch(`${server.url}/git/nope.git/info/refs?service=git-upload-pack`, { headers: auth });
    expect(unknown.status).to.equal(404);
    expect((await unknown.json()).error.code).to.equal('GG_UNKNOWN_REPO');
    expect((await fetch(`${server.url}/git/..%2F..%2Fetc.git/info/refs?service=git-upload-pack`, { headers: auth })).status).to.equal(404);
  });

  it('sends runners the served path, or a repository\'s own cloneUrl', () => {
    expect(cloneUrlOf(config.repositories[0])).to.equal('/git/shop.git');
    expect(cloneUrlOf(config.repositories[1])).to.equal('https://git.example.com/elsewhere.git');
  });
});

describe('code over HTTP with a read-only clone token (cloneToken, readTokens)', function () {
  this.timeout(30_000);
  const CLONE_TOKEN = 'people-clone-token-0001';
  const READ_TOKEN = 'tools-read-token-00002';
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  before(async () => {
    home = tempHome();
    const shop = new Repo(home.dir);
    shop.commit({ 'README': 'shop\n' }, 'first');
    shop.push();
    const lib = new Repo(home.dir, 'lib');
    lib.commit({ 'README': 'lib\n' }, 'first');
    lib.push();
    const config = shopConfig(home.dir, shop, { top: { cloneToken: CLONE_TOKEN, readTokens: [READ_TOKEN] },
      more: [{ name: 'lib', path: lib.bare, builders: [{ name: 'unit', run: 'true' }] }] });
    server = await startShopServer(home.dir, shop, { config });
  });
  after(async () => {
    await server.close();
    home.cleanup();
  });

  it('clones every repository with either clone token (git clone -c http.extraHeader)', async () => {
    for (const [name, token] of [['shop', CLONE_TOKEN], ['lib', READ_TOKEN], ['lib', CLONE_TOKEN]]) {
      const dest = join(home.dir, `clone-${name}-${token.slice(0, 5)}`);
      const r = await gitAsync(['-c', `http.extraHeader=Authorization: Bearer ${token}`, 'clone', '--quiet', `${server.url}/git/${name}.git`, dest],
        { env: gitEnv({ GIT_TERMINAL_PROMPT: '0' }) });
      expect(r.status, r.stderr).to.equal(0);
      expect(git(dest, 'show', 'HEAD:README')).to.equal(name);
    }
  });

  it('answers 401 without a token, and 403 to a push with the clone token', async () => {
    const res = await fetch(`${server.url}/git/shop.git/info/refs?service=git-upload-pack`);
    expect(res.status).to.equal(401);
    expect((await res.json()).error.code).to.equal('GG_GIT_UNAUTHORIZED');
    const push = await fetch(`${server.url}/git/shop.git/info/refs?service=git-receive-pack`, { headers: { authorization: `Bearer ${CLONE_TOKEN}` } });
    expect(push.status).to.equal(403);
  });

  it('refuses a clone token equal to the runner token at start-up', () => {
    expect(() => parseConfig(`runnerToken: ${RUNNER_TOKEN}\ncloneToken: ${RUNNER_TOKEN}\n`, { baseDir: home.dir }))
      .to.throw(/cloneToken: must differ from runnerToken/);
  });
});
