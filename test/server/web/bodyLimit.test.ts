import { expect } from 'chai';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { Repo, ServerProcess, tempHome, writeConfig } from '../../helpers.js';
import { bytesOf } from '../../../server/web/bodyLimit.js';

const GIB = 1024 ** 3;

/**
 * Sends a request's head and `bodyBytes` of body over a raw socket, then stops sending and waits
 * for the status line (null when none comes within timeoutMs). Chunked when `chunked`, else with
 * `Content-Length: declared`.
 */
function send(url: string, path: string, type: string, opts: { declared?: number; chunked?: boolean; bodyBytes: number },
  timeoutMs = 5000): Promise<{ status: number | null; ms: number }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket = connect(Number(port), '127.0.0.1');
    let got = '';
    const done = (status: number | null) => { clearTimeout(timer); socket.destroy(); resolve({ status, ms: Date.now() - t0 }); };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('data', (d) => {
      got += d;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) done(Number(m[1]));
    });
    socket.on('error', () => undefined);
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\n`
      + (opts.chunked ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${opts.declared}\r\n\r\n`));
    const chunk = Buffer.alloc(16 * 1024, 'a');
    for (let sent = 0; sent < opts.bodyBytes; sent += chunk.length) {
      socket.write(opts.chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
    }
  });
}

function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

describe('request bodies are limited before they are read (a real server)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-bodies-');
  let server: ServerProcess;

  before(async () => {
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
  });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  it('answers a declared 1 GiB body with 413 at once, without credentials, and without reading it', async () => {
    const before = rssBytes(server.child.pid!);
    for (const [path, type] of [['/api/changes?repo=shop', 'text/plain'], ['/api/changes', 'application/json'],
      ['/login', 'application/x-www-form-urlencoded'], ['/api/tree/shop/main', 'application/json'], ['/api/gate/shop', 'application/octet-stream'],
      ['/api/builds/1/cancel', 'application/json']]) {
      const r = await send(server.url, path, type, { declared: GIB, bodyBytes: 64 * 1024 });
      expect(r.status, `${path}: a 413 within 5 s`).to.equal(413);
      expect(r.ms, path).to.be.below(2000);
      if (process.env.GG_TEST_FIGURES) console.log({ path, ms: r.ms });
    }
    const grewBy = rssBytes(server.child.pid!) - before;
    if (process.env.GG_TEST_FIGURES) console.log({ rssGrowthBytes: grewBy });
    expect(grewBy, 'memory stays low').to.be.below(32 * 1024 * 1024);
  });

  it('cuts off a chunked body as soon as it grows over the route\'s limit', async () => {
    for (const [path, type, limit] of [['/api/changes?repo=shop', 'text/plain', '256kb'], ['/login', 'application/x-www-form-urlencoded', '16kb']]) {
      const r = await send(server.url, path, type, { chunked: true, bodyBytes: bytesOf(limit) + 64 * 1024 });
      expect(r.status, path).to.equal(413);
    }
  });

  it('says what is wrong: GG_BODY_TOO_LARGE naming the limit', async () => {
    const res = await fetch(`${server.url}/api/changes?repo=shop`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(300 * 1024) });
    expect(res.status).to.equal(413);
    const body = await res.json() as { error: { code: string; message: string } };
    expect(body.error.code).to.equal('GG_BODY_TOO_LARGE');
    expect(body.error.message).to.match(/over 262144 bytes: it was not read; send a smaller body/);
  });

  it('still takes bodies under the limits', async () => {
    const res = await fetch(`${server.url}/login`, { method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=wrong&next=/' });
    expect(res.status).to.equal(403); // read and judged: a wrong token
  });

  it('reads the size units body-parser reads', () => {
    expect(bytesOf('16kb')).to.equal(16384);
    expect(bytesOf('1mb')).to.equal(1048576);
    expect(bytesOf(4096)).to.equal(4096);
    expect(() => bytesOf('lots')).to.throw(/is not a size such as 16kb/);
  });
});
