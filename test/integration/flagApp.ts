/**
 * The app of the guarded-rollout test (rollout.test.ts), run as its own process:
 * `node flagApp.js '{"greengate": URL, "token": T, "rps": 150, "errorRates": {"FLAG": {"on": 0.3, "off": 0.005}}}'`
 * prints `listening http://127.0.0.1:PORT` once it answers (`port`: that port; default any free one). About `rps` times a second it serves a
 * request for a random user (targetingKey user-N): for each flag it asks greengate over OFREP (raw
 * protocol, the bearer token) which variant the user gets, fails with that variant's error rate and
 * counts app_requests_total{flag, variant, status} (but the `uncounted` share) (every combination starts at 0, so Prometheus's
 * increase() sees the first request). GET /metrics is prom-client's page. It exits when its stdin closes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';

/** uncounted: per flag and variant, the share of its requests left uncounted (a broken exposure count, for the sample-ratio check). */
interface Options { greengate: string; token: string; rps: number; port?: number; errorRates: Record<string, Record<string, number>>; uncounted?: Record<string, Record<string, number>> }
const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const registry = new Registry();
const requests = new Counter({ name: 'app_requests_total', help: 'requests by flag variant and status', labelNames: ['flag', 'variant', 'status'], registers: [registry] });
for (const [flag, rates] of Object.entries(opts.errorRates)) {
  for (const variant of Object.keys(rates)) for (const status of ['200', '500']) requests.inc({ flag, variant, status }, 0);
}

async function serveOne(): Promise<void> {
  const targetingKey = `user-${Math.floor(Math.random() * 1_000_000)}`;
  for (const [flag, rates] of Object.entries(opts.errorRates)) {
    const res = await fetch(`${opts.greengate}/ofrep/v1/evaluate/flags/${flag}`, { method: 'POST',
      headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ context: { targetingKey } }) });
    if (res.status !== 200) { await res.arrayBuffer(); continue; } // greengate restarting: no request served
    const variant = ((await res.json()) as { variant?: string }).variant ?? 'off';
    if (Math.random() < (opts.uncounted?.[flag]?.[variant] ?? 0)) continue;
    const failed = Math.random() < (rates[variant] ?? 0);
    requests.inc({ flag, variant, status: failed ? '500' : '200' });
  }
}

const server = createServer((req, res) => {
  if (req.url === '/metrics') {
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
    return;
  }
  res.writeHead(404).end();
});
server.listen(opts.port ?? 0, '127.0.0.1', () => {
  const batch = Math.max(1, Math.round(opts.rps / 20));
  setInterval(() => { for (let i = 0; i < batch; i++) serveOne().catch(() => undefined); }, 50);
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
