/**
 * Benchmark of feature flag evaluation over OFREP on loopback. `npm run bench:flags [-- --quick]`
 * starts a real `greengate serve` with one repository serving a flags file (a group in $evaluators,
 * a fractional split), then measures: a single evaluation's latency, one request at a time (p50, p99,
 * max; target p99 ≤ 2 ms); evaluations per second with 16 requests in flight against the one server
 * process, and per second of the server's own CPU time (user + system from /proc: a per-core figure
 * that a busy machine does not lower; target ≥ 5,000/s); that an unchanged bulk answers 304; and
 * how long after an admin's kill every one of 8 evaluating loops gets the killed answer (target ≤ 1 s).
 * Two clients, each measured: node's fetch (undici) and node:http with a keep-alive Agent. fetch's own
 * allocations and collections (in the client process, on the same 2 cores) make much of the tail,
 * so the http client's figures are the server's; fetch's are kept for comparison with earlier runs.
 * `floor`: the same http client against a bare node:http server (its own process, a constant JSON
 * answer): the p99 the machine itself allows at the moment, to read the single evaluation's against.
 * Prints JSON and a line of text.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, ServerProcess, pollUntil } from '../helpers.js';

const TOKEN = 'bench-flags-token-0123456789';
const FLAGS = JSON.stringify({
  flags: {
    'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off',
      targeting: { if: [{ $ref: 'qa' }, 'on', { fractional: [['on', 10], ['off', 90]] }] } },
    'max-items': { state: 'ENABLED', variants: { small: 10, big: 50 }, defaultVariant: 'small' },
  },
  $evaluators: { qa: { ends_with: [{ var: 'email' }, '@qa.example.com'] } },
});

/** A process's CPU time so far (user + system), from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function benchFlags(quick: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'gg-bench-flags-'));
  let server: ServerProcess | null = null;
  try {
    const repo = new Repo(dir);
    const file = join(dir, 'greengate.yml');
    writeFileSync(file, stringify({ port: 0, data: join(dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }], flags: { file: 'flags.json', token: TOKEN } }] }));
    repo.commit({ 'flags.json': FLAGS }, 'flags');
    repo.push();
    server = await new ServerProcess(file).start();
    const url = `${server.url}/ofrep/v1/evaluate/flags`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    const evaluate = async (i: number) => (await fetch(`${url}/new-cart`, { method: 'POST', headers,
      body: JSON.stringify({ context: { targetingKey: `user-${i}`, email: i % 10 === 0 ? `u${i}@qa.example.com` : `u${i}@example.com` } }) })).json() as Promise<{ reason: string }>;
    await pollUntil(async () => (await evaluate(0)).reason === 'TARGETING_MATCH', 'the flags to be served', 10_000);
    // The same request through node:http with a keep-alive Agent: no fetch (undici) in the client's time.
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const { hostname, port } = new URL(url);
    const evaluateHttp = (i: number) => new Promise<{ reason: string }>((resolve, reject) => {
      const body = JSON.stringify({ context: { targetingKey: `user-${i}`, email: i % 10 === 0 ? `u${i}@qa.example.com` : `u${i}@example.com` } });
      const req = request({ agent, hostname, port, method: 'POST', path: '/ofrep/v1/evaluate/flags/new-cart', headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve(JSON.parse(text))).on('error', reject);
      });
      req.on('error', reject).end(body);
    });

    const n = quick ? 500 : 3000;
    const singleOf = async (client: (i: number) => Promise<unknown>) => {
      for (let i = 0; i < 200; i++) await client(i); // warm up
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await client(i);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      return { n, p50Ms: +percentile(times, 50).toFixed(3), p99Ms: +percentile(times, 99).toFixed(3), maxMs: +times[times.length - 1].toFixed(3) };
    };
    const single = await singleOf(evaluate);
    const singleHttp = await singleOf(evaluateHttp);
    const floor = await floorOf(singleOf, headers);

    const seconds = quick ? 1 : 3;
    const throughputOf = async (client: (i: number) => Promise<unknown>) => {
      const cpu0 = cpuSeconds(server!.child.pid!);
      let done = 0;
      const until = Date.now() + seconds * 1000;
      await Promise.all(Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; Date.now() < until; i += 16) { await client(i); done++; }
      }));
      const serverCpu = cpuSeconds(server!.child.pid!) - cpu0;
      // Per core: evaluations per second of the server process's own CPU time (user + system), whatever else the machine runs.
      return { inFlight: 16, seconds, evaluations: done, perSecond: Math.round(done / seconds),
        serverCpuSeconds: +serverCpu.toFixed(2), perCoreSecond: Math.round(done / serverCpu) };
    };
    const throughput = await throughputOf(evaluate);
    const throughputHttp = await throughputOf(evaluateHttp);
    agent.destroy();

    const bulk = () => fetch(url, { method: 'POST', headers: { ...headers, ...(etag ? { 'if-none-match': etag } : {}) }, body: JSON.stringify({ context: { targetingKey: 'u1' } }) });
    let etag = '';
    const first = await bulk();
    etag = first.headers.get('etag') ?? '';
    const second = await bulk();
    const unchangedBulk = { first: first.status, second: second.status, etag };

    let stop = false;
    const killedAfter: number[] = [];
    let killAt = 0;
    const loops = Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; !stop; i += 8) {
        const r = await evaluate(i);
        if (killAt && r.reason === 'DISABLED') { killedAfter.push(Date.now() - killAt); return; }
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    killAt = Date.now();
    await fetch(`${server.url}/api/flags/shop/new-cart/kill`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{}' });
    await pollUntil(() => killedAfter.length === 8, 'every loop to see the kill', 10_000, 5);
    stop = true;
    await Promise.all(loops);
    const kill = { loops: 8, maxMs: Math.max(...killedAfter) };
    return { single, singleHttp, floor, throughput, throughputHttp, unchangedBulk, kill };
  } finally {
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const BARE_SERVER = `require('node:http').createServer((req, res) => {
  req.resume().on('end', () => {
    const text = JSON.stringify({ key: 'new-cart', value: false, variant: 'off', reason: 'TARGETING_MATCH', metadata: {} });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
  });
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;

/** The single-evaluation figures of a bare node:http server (no routing, evaluation or SQLite) on this machine now. */
async function floorOf(singleOf: (client: (i: number) => Promise<unknown>) => Promise<{ p50Ms: number; p99Ms: number }>, headers: Record<string, string>) {
  const child = spawn(process.execPath, ['--max-semi-space-size=1', '-e', BARE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
      child.once('exit', () => reject(new Error('the bare server exited')));
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const client = (i: number) => new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ context: { targetingKey: `user-${i}` } });
      request({ agent, hostname: '127.0.0.1', port, method: 'POST', path: '/ofrep/v1/evaluate/flags/new-cart', headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
        (res) => { res.resume().on('end', () => resolve()).on('error', reject); }).on('error', reject).end(body);
    });
    const r = await singleOf(client);
    agent.destroy();
    return r;
  } finally {
    child.kill();
  }
}

if (process.argv[1]?.endsWith('flags.js')) {
  const r = await benchFlags(process.argv.includes('--quick'));
  console.log(JSON.stringify(r, null, 2));
  console.log(`flags: single evaluation p50 ${r.singleHttp.p50Ms} ms, p99 ${r.singleHttp.p99Ms} ms (node:http keep-alive client; fetch: ${r.single.p50Ms} / ${r.single.p99Ms} ms; a bare node:http server here now: ${r.floor.p50Ms} / ${r.floor.p99Ms} ms); ` +
    `${r.throughputHttp.perSecond} evaluations/s (16 in flight, one server process), ${r.throughputHttp.perCoreSecond} per second of server CPU (fetch: ${r.throughput.perSecond}/s, ${r.throughput.perCoreSecond}); ` +
    `unchanged bulk → ${r.unchangedBulk.second}; kill seen by every loop within ${r.kill.maxMs} ms`);
}
