import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { ADMIN_TOKEN, CLI, ServerProcess, startShopProcess, tempHome } from '../../helpers.js';
import { refusal } from '../../../server/cli/tree.js';

/** A port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** Runs the real `greengate tree …` command; resolves to its exit status and output. */
function tree(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'tree', ...args], {
      env: { ...process.env, GREENGATE_ADMIN_TOKEN: '', GREENGATE_SERVER: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('greengate tree: what the sheriff reads (spawned CLI, real server)', function () {
  this.timeout(60_000);
  const home = tempHome('gg-cli-tree-');
  let server: ServerProcess;

  before(async () => { server = await startShopProcess(home.dir); });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  it('opens the tree without --message (it used to print "HTTP 400: [object Object]")', async () => {
    const closed = await tree(['close', '--server', server.url, '--message', 'red build, Ada is on it'], { GREENGATE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(closed.status, closed.stderr).to.equal(0);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('closed');
    const opened = await tree(['open', '--server', server.url], { GREENGATE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect([opened.status, opened.stderr]).to.deep.equal([0, '']);
    expect(opened.stdout).to.equal('shop/main: tree open\n');
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');
    const older = await server.api('/api/tree/shop/main', { method: 'POST', body: JSON.stringify({ state: 'open', message: null }),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
    expect(older.state, 'what older clients send is taken too').to.equal('open');
  });

  it('prints the server\'s message for a wrong admin token (401), never an object', async () => {
    const r = await tree(['open', '--server', server.url], { GREENGATE_ADMIN_TOKEN: 'wrong-token' });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.equal('greengate tree: POST /api/tree/shop/main: HTTP 401 GG_ADMIN_TOKEN: ' +
      'admin token missing or wrong: pass --admin-token-file FILE (a 0600 file holding it) or set GREENGATE_ADMIN_TOKEN\n');
    expect(r.stderr).to.not.contain('[object Object]');
  });

  it('prints the server\'s message for other refusals, and usage errors with exit status 2', async () => {
    const notGated = await tree(['close', '--server', server.url, '--branch', 'dev', '--message', 'x'], { GREENGATE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect([notGated.status, notGated.stderr]).to.deep.equal([1,
      'greengate tree: POST /api/tree/shop/dev: HTTP 404 GG_NOT_GATED: shop/dev is not gated: add it to gate: in greengate.yml\n']);
    const noRepo = await tree(['status', '--server', server.url, '--repo', 'nope', '--branch', 'main']);
    expect(noRepo.status).to.equal(1);
    expect(noRepo.stderr).to.equal('greengate tree: GET /api/tree/nope/main: HTTP 404 GG_UNKNOWN_REPO: ' +
      'unknown repository "nope": it is not in greengate.yml (configured: shop)\n');
    const noMessage = await tree(['close', '--server', server.url]);
    expect([noMessage.status, noMessage.stderr]).to.deep.equal([2,
      'greengate tree: closing the tree needs a reason: --message "what is wrong and who is on it"\n']);
  });

  it('says when the server cannot be reached', async () => {
    const port = await freePort();
    const r = await tree(['status', '--server', `http://127.0.0.1:${port}`, '--repo', 'shop', '--branch', 'main']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.equal(`greengate tree: cannot reach http://127.0.0.1:${port} (ECONNREFUSED): is the server running, and is --server right?\n`);
  });
});

describe('refusal: a server error answer as one line', () => {
  it('reads { error: { code, message } } and keeps a known code', () => {
    const e = refusal('POST /api/tree/shop/main', 400, JSON.stringify({ error: { code: 'GG_MESSAGE_REQUIRED', message: 'closing the tree needs a message' } }));
    expect([e.code, e.message]).to.deep.equal(['GG_MESSAGE_REQUIRED', 'POST /api/tree/shop/main: HTTP 400 GG_MESSAGE_REQUIRED: closing the tree needs a message']);
  });

  it('shows the first line of a body that is not an error object, under GG_SERVER_ANSWER', () => {
    const e = refusal('GET /api/repos', 502, '<html>Bad Gateway</html>\nmore');
    expect([e.code, e.message]).to.deep.equal(['GG_SERVER_ANSWER', 'GET /api/repos: HTTP 502: <html>Bad Gateway</html>']);
    const odd = refusal('GET /api/repos', 500, JSON.stringify({ error: { code: 'XX_OTHER', message: { nested: true } } }));
    expect(odd.message).to.not.contain('[object Object]');
    expect(odd.code).to.equal('GG_SERVER_ANSWER');
  });
});
