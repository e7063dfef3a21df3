/**
 * Benchmark of alerting: event → delivered, on loopback. `npm run bench:notify [-- --events N]`
 * (default 100; `--quick`: 30) starts a real `greengate serve` whose notify: points at a real
 * HTTP receiver (checking the signature) and a real SMTP server in this process, then closes and
 * opens the tree by hand N times in a row over the admin API. Each change is one event, told by
 * one webhook and one mail. Latency: arrival at the receiver minus the event's time as the server
 * stored it (the webhook body's `at`; a mail is matched to its event by its subject). Prints p50,
 * p95, max per channel, duplicates and signature failures, as JSON and a line of text.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, ServerProcess, pollUntil } from '../helpers.js';
import { MailServer, NOTIFY_ENV, Receiver, notifyBlock } from '../notifyFixtures.js';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] };
}

export async function benchNotify(events: number) {
  const dir = mkdtempSync(join(tmpdir(), 'gg-bench-notify-'));
  const receiver = await new Receiver().start();
  const mail = await new MailServer().start();
  let server: ServerProcess | null = null;
  try {
    const repo = new Repo(dir);
    const file = join(dir, 'greengate.yml');
    writeFileSync(file, stringify({
      port: 0, data: join(dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      notify: notifyBlock(receiver, mail),
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }] }],
    }));
    server = new ServerProcess(file);
    server.env = NOTIFY_ENV;
    await server.start();
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const started = Date.now();
    for (let i = 0; i < events; i++) {
      await server.api('/api/tree/shop/main', { method: 'POST', headers,
        body: JSON.stringify({ state: i % 2 === 0 ? 'closed' : 'open', message: `bench ${i}` }) });
    }
    await pollUntil(() => receiver.accepted().length >= events && mail.mails.length >= events, 'every delivery', 120_000);
    const eventAt = new Map(receiver.accepted().map((r) => [String(r.body.text).split('\n')[0], Number(r.body.at)]));
    const webhook = receiver.accepted().map((r) => r.at - Number(r.body.at));
    const email = mail.mails.map((m) => m.at - (eventAt.get(m.subject.replace(/^\[greengate\] /, '')) ?? NaN)).filter(Number.isFinite);
    return {
      events, seconds: (Date.now() - started) / 1000,
      webhook: summary(webhook), email: summary(email),
      duplicates: receiver.accepted().length - new Set(receiver.accepted().map((r) => r.delivery)).size +
        mail.mails.length - new Set(mail.mails.map((m) => m.delivery)).size,
      signatureFailures: receiver.requests.filter((r) => !r.signatureOk).length,
    };
  } finally {
    await server?.kill();
    await receiver.close();
    await mail.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--events');
  const events = at >= 0 ? Number(args[at + 1]) : args.includes('--quick') ? 30 : 100;
  const r = await benchNotify(events);
  console.log(JSON.stringify(r, null, 2));
  console.log(`event → delivered on loopback, ${r.events} events: webhook p50 ${r.webhook.p50} ms, p95 ${r.webhook.p95} ms, max ${r.webhook.max} ms; ` +
    `e-mail p50 ${r.email.p50} ms, p95 ${r.email.p95} ms, max ${r.email.max} ms; duplicates ${r.duplicates}; ` +
    `target p95 ≤ 1000 ms: ${Math.max(r.webhook.p95, r.email.p95) <= 1000 ? 'met' : 'MISSED'}`);
}
