/**
 * The "production" of the end-to-end deploy test (immune.test.ts), run as its own process:
 * `node productionApp.js [--rps 300]` prints `listening http://127.0.0.1:PORT` once it answers.
 *
 * - Any path but the ones below is a user request: it fails (500) with the current release's
 *   error rate, and is counted by status (http_requests_total) and timed
 *   (http_request_duration_seconds, a histogram); GET /metrics is prom-client's page.
 * - Its own users: a load generator sends it about `--rps` requests a second (batches every 50 ms).
 * - POST /deploy?stage=S&sha=X with the deployed commit's app.json (`{ "errorRate": 0.005 }`) makes it
 *   the current release; the one it replaces is kept per stage. POST /rollback?stage=S&sha=X puts
 *   back the release from before that stage's deploy (409 when the stage has nothing to undo).
 * - GET /state: the current release and every deploy/rollback call it got, in order.
 * It exits when its stdin closes (the test process went away), so nothing is left behind.
 */
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

interface Release { release: string; errorRate: number }
/** release and errorRate: the current release after the call. */
interface Call { action: 'deploy' | 'rollback'; stage: string; sha: string; release: string; errorRate: number; at: number }

const MAX_BODY = 4096;
const rpsArg = process.argv.indexOf('--rps');
const rps = rpsArg > 0 ? Number(process.argv[rpsArg + 1]) : 300;
if (!Number.isFinite(rps) || rps < 1 || rps > 5000) {
  process.stderr.write(`--rps must be a number of requests a second from 1 to 5000, got ${process.argv[rpsArg + 1]}\n`);
  process.exit(2);
}

const registry = new Registry();
const requests = new Counter({ name: 'http_requests_total', help: 'requests by status', labelNames: ['status'], registers: [registry] });
const latency = new Histogram({ name: 'http_request_duration_seconds', help: 'request latency', registers: [registry],
  buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });
requests.inc({ status: '200' }, 0);
requests.inc({ status: '500' }, 0);

let current: Release = { release: 'initial', errorRate: 0.005 };
const before = new Map<string, Release>(); // stage → the release its last deploy replaced
const calls: Call[] = [];

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { text += chunk; if (text.length > MAX_BODY) { reject(new Error(`the body is over ${MAX_BODY} bytes`)); req.destroy(); } });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const stage = url.searchParams.get('stage') ?? '';
  const sha = url.searchParams.get('sha') ?? '';
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(stage) || !/^[0-9a-f]{7,64}$/.test(sha)) {
    return send(res, 400, { error: 'give ?stage=NAME&sha=COMMIT (a stage name and the deployed commit in hex)' });
  }
  if (url.pathname === '/deploy') {
    let errorRate: unknown;
    try { errorRate = (JSON.parse(await readBody(req)) as { errorRate?: unknown }).errorRate; } catch { errorRate = undefined; }
    if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) {
      return send(res, 400, { error: 'the body must be app.json: { "errorRate": a number from 0 to 1 }' });
    }
    before.set(stage, current);
    current = { release: sha, errorRate };
    calls.push({ action: 'deploy', stage, sha, ...current, at: Date.now() });
    return send(res, 200, current);
  }
  const previous = before.get(stage);
  if (!previous) return send(res, 409, { error: `stage ${stage} has no deploy to roll back` });
  before.delete(stage);
  current = previous;
  calls.push({ action: 'rollback', stage, sha, ...current, at: Date.now() });
  return send(res, 200, current);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://app');
  if (url.pathname === '/metrics') {
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
    return;
  }
  if (url.pathname === '/state') return send(res, 200, { current, calls });
  if (req.method === 'POST' && (url.pathname === '/deploy' || url.pathname === '/rollback')) {
    control(req, res, url).catch((err: Error) => send(res, 400, { error: err.message }));
    return;
  }
  const end = latency.startTimer();
  const failed = Math.random() < current.errorRate;
  requests.inc({ status: failed ? '500' : '200' });
  res.writeHead(failed ? 500 : 200).end(failed ? 'error\n' : 'ok\n');
  end();
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const batch = Math.max(1, Math.round(rps / 20));
  setInterval(() => {
    for (let i = 0; i < batch; i++) {
      request({ host: '127.0.0.1', port, path: '/cart', agent }, (r) => r.resume()).on('error', () => {}).end();
    }
  }, 50);
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
