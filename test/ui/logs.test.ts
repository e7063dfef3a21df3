import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = 20_000;
const LINES = 150_000; // about 1.8 MB of log: the viewer shows its tail first

describe('log viewer, paging and pages without JavaScript (real browser)', function () {
  this.timeout(60_000);
  const home = tempHome('gg-ui-logs-');
  const repo = new Repo(home.dir);
  const go = join(home.dir, 'go');
  let server: ServerProcess;
  let runner: ChildProcess;
  let browser: Browser;
  let build: any;
  let unit: number;
  let bigBuild: number; // the 40 MB build of the live-client test

  before(async () => {
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'big', run: 'sh ./print.sh', timeout: 60, maxLogBytes: 256 * 1024 * 1024,
      sandbox: { readOnly: [home.dir] } }] }]); // print.sh waits for a file this test writes in its home
    server = await new ServerProcess(config).start();
    runner = startRunner(server.url, 'r1', home.dir, { slots: 1 });
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    repo.commit({ 'print.sh': `seq 1 ${LINES} | sed 's/^/line /'\n` }, 'Print a long log');
    repo.push();
    const first = await pollUntil(async () => (await server.builds())[0], 'the build');
    build = await server.waitForBuild(first.id);
    unit = build.units[0].id;
  });

  after(async () => {
    await browser?.close();
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  });

  it('serves byte ranges of a log with line numbers', async () => {
    const size = build.units[0].logBytes;
    const head = await server.api(`/units/${unit}/log?from=0`);
    expect(head.line).to.equal(1);
    expect(head.text.startsWith('$ sh ./print.sh\nline 1\nline 2\n')).to.equal(true);
    expect(head.to).to.be.greaterThan(1024 * 1024).and.at.most(size);
    const tail = await server.api(`/units/${unit}/log`);
    expect(tail.to).to.equal(size);
    expect(tail.text.endsWith(`line ${LINES}\n`)).to.equal(true);
    const firstLine = tail.text.split('\n')[0];
    expect(firstLine).to.equal(`line ${tail.line - 1}`); // line 1 is the runner's "$ command" line
    const before = await server.api(`/units/${unit}/log?before=${tail.from}`);
    expect(before.to).to.equal(tail.from);
    expect(before.text.split('\n')[0]).to.equal(`line ${before.line - 1}`);
    expect(before.text.endsWith(`line ${tail.line - 2}\n`)).to.equal(true);
  });

  it('shows the tail of a long log, loads earlier output on demand and jumps to a line anchor', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/builds/${build.id}`);
    await page.waitForSelector(`#u${unit}-L${LINES + 1}`, { timeout: WAIT });
    expect(await page.textContent(`#u${unit}-L${LINES + 1}`)).to.equal(`line ${LINES}`);
    const firstShown = async () => Number(await page.getAttribute('pre.log .ln', 'data-n'));
    const start = await firstShown();
    expect(start).to.be.greaterThan(1000);
    const scrolled = await page.$eval('pre.log', (el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 4);
    expect(scrolled, 'the view follows the end').to.equal(true);
    await page.click('button.load-earlier');
    await page.waitForSelector(`#u${unit}-L${start - 1}`, { timeout: WAIT });
    expect(await firstShown()).to.be.lessThan(start);
    expect(await page.textContent(`#u${unit}-L${start - 1}`)).to.equal(`line ${start - 2}`);
    await page.close();

    const anchored = await browser.newPage();
    await anchored.goto(`${server.url}/builds/${build.id}/log#u${unit}-L3`);
    const line = await anchored.waitForSelector(`#u${unit}-L3.hl`, { timeout: WAIT });
    expect(await line.textContent()).to.equal('line 2');
    expect(await anchored.isChecked('.follow input')).to.equal(false);
    await anchored.close();
  });

  it('pages the waterfall with a cursor and renders every page without JavaScript', async () => {
    repo.commit({ 'print.sh': 'printf "\\033[31mred\\033[0m <tail>\\n"\n' }, 'Shorter log');
    repo.push();
    const second = await pollUntil(async () => (await server.builds()).find((b: any) => b.id > build.id && b.state === 'done'), 'the second build');
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${server.url}/?rows=1`);
    expect(await page.locator('table.waterfall tbody tr').count()).to.equal(1);
    expect(await page.getAttribute('tbody tr', 'data-sha')).to.equal(second.sha);
    await page.click('text=older »');
    expect(await page.getAttribute('tbody tr', 'data-sha')).to.equal(build.sha);
    await page.goto(`${server.url}/builds/${second.id}`);
    expect(await page.textContent('pre.log')).to.contain('red <tail>').and.not.contain('\x1b');
    await page.goto(`${server.url}/builds/${build.id}`);
    expect(await page.textContent('pre.log')).to.contain(`line ${LINES}`);
    for (const path of ['/runners', '/tree', '/tests', '/login']) {
      const res = await page.goto(server.url + path);
      expect(res?.status(), path).to.equal(200);
    }
    expect((await page.goto(`${server.url}/builds/999999`))?.status()).to.equal(404);
    await context.close();
  });

  it('cuts off a live client that does not read and keeps serving the others', async () => {
    repo.commit({ 'print.sh': `while [ ! -f '${go}' ]; do sleep 0.02; done\nyes "0123456789 abcdefghijklmnopqrstuvwxyz" | head -c 40000000\n` }, 'Print 40 MB');
    repo.push();
    const b = await pollUntil(async () => (await server.builds()).find((x: any) => x.sha !== build.sha && x.state !== 'done'), 'the 40 MB build');
    const port = Number(new URL(server.url).port);
    const slow = connect(port, '127.0.0.1'); // a raw socket: after the handshake it reads nothing until told to
    slow.write(`GET /ws/live?build=${b.id} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await new Promise((r) => slow.once('data', r));
    slow.pause();
    const fast = new WebSocket(`${server.url.replace('http', 'ws')}/ws/live?build=${b.id}`);
    let fastBytes = 0;
    fast.on('message', (d) => { fastBytes += (d as Buffer).length; });
    await new Promise((r) => fast.once('message', r));
    writeFileSync(go, '');
    await pollUntil(async () => (await server.build(b.id)).state === 'done', 'the 40 MB build to finish', 40_000);
    await pollUntil(() => fastBytes > 40_000_000, 'the fast client to get the whole log', 20_000);
    let slowBytes = 0;
    let slowClosed = false;
    slow.on('data', (d) => { slowBytes += d.length; });
    slow.on('close', () => { slowClosed = true; });
    slow.resume();
    await pollUntil(() => slowClosed, 'the server to have cut the slow client off', 10_000);
    expect(slowBytes).to.be.lessThan(40_000_000);
    fast.close();
    bigBuild = b.id;
  });

  it('hands a 40 MB whole log to a slow reader without holding it in memory, serving others meanwhile', async () => {
    const built = await server.build(bigBuild);
    const logBytes = built.units[0].logBytes;
    expect(logBytes).to.be.greaterThan(40_000_000);
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) * 1024;
    const port = Number(new URL(server.url).port);
    const before = rss();
    const slow = connect(port, '127.0.0.1');
    slow.write(`GET /api/units/${built.units[0].id}/log HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    const first: Buffer = await new Promise((r) => slow.once('data', r));
    slow.pause();
    for (let i = 0; i < 5; i++) expect((await server.api('/healthz')).ok).to.equal(true); // the server is not stuck in the download
    expect(rss() - before, 'resident memory grown while the reader waits').to.be.lessThan(16 * 1024 * 1024);
    let received = first.length;
    let tail = first.subarray(-200);
    slow.on('data', (d: Buffer) => { received += d.length; tail = Buffer.concat([tail, d]).subarray(-200); });
    const closed = new Promise((r) => slow.once('close', r));
    slow.resume();
    await closed;
    expect(received, 'headers and the whole log').to.be.greaterThan(logBytes);
    expect(tail.toString('latin1')).to.match(/0123456789 abcdefghij/);
  });

  it('keeps at most 100,000 lines of a followed live log on the page and offers the rest on demand', async function () {
    this.timeout(120_000);
    const go2 = join(home.dir, 'go2');
    const LIVE = 130_000;
    repo.commit({ 'print.sh': `while [ ! -f '${go2}' ]; do sleep 0.02; done\nseq 1 ${LIVE} | sed 's/^/live /'\n` }, 'Print 130,000 lines live');
    repo.push();
    const b = await pollUntil(async () => (await server.builds()).find((x: any) => x.id > bigBuild), 'the live build');
    const running = await pollUntil(async () => { const x = await server.build(b.id); return x.units[0]?.startedAt ? x : null; }, 'its unit to start');
    const unitId = running.units[0].id;
    const page = await browser.newPage();
    await page.goto(`${server.url}/builds/${b.id}`);
    await page.waitForSelector(`#u${unitId}-L1`, { timeout: WAIT }); // "$ sh ./print.sh": the page is following
    writeFileSync(go2, '');
    const last = await page.waitForSelector(`#u${unitId}-L${LIVE + 1}`, { timeout: 90_000 });
    expect(await last.textContent()).to.equal(`live ${LIVE}`);
    const shown = await page.locator(`pre.log .ln`).count();
    expect(shown, 'lines on the page').to.be.at.most(100_000 + 200).and.at.least(100_000 - 200);
    const first = Number(await page.getAttribute('pre.log .ln', 'data-n'));
    expect(first).to.be.greaterThan(LIVE + 1 - 100_000 - 200);
    expect(await page.isVisible('button.load-earlier'), 'the trimmed lines are offered again').to.equal(true);
    await page.close();
  });
});
