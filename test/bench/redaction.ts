/**
 * Redaction throughput (issue 20): 50 MB of test-runner-like log lines with 3 secrets (one of
 * them in about every thousandth line, whole, split by a newline or base64) through
 *   - the runner's path: LogStreamer.write (redaction, chunking; sending is a no-op), fed in
 *     64 KiB pipe reads and, separately, one line per write;
 *   - the server's second redaction of each stored chunk (64 KiB each).
 * Prints MB/s for each, by CPU time and by wall time. Runs against whichever redaction the build has (it looks for the old
 * logGuard.redactText), so the same file measures before and after a change.
 *
 *   npx tsc -p tsconfig.json && node dist/test/bench/redaction.js [MB]
 */
import { LogStreamer } from '../../runner/logStreamer.js';
import * as protocol from '../../server/protocol.js';
import * as guard from '../../server/dispatch/logGuard.js';
import { seededRandom } from '../helpers.js';

const MB = Number(process.argv[2] ?? 50);
const SECRETS = ['npm_7f3a9c1e5b2d8f4a6c0e', 'ghp_Zx81kQm2Lr7Vt5Nw3Pb9Hc4Yd6Jf0Sg2Ak', '-----deploy-key-0123456789abcdef0123456789'];

function makeLog(bytes: number): string[] {
  const rnd = seededRandom(20);
  const words = ['ok', 'not ok', 'test', 'cart', 'adds', 'items', 'total', 'tax', 'ms', 'passed', 'duration', 'checkout', 'user', 'order'];
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    let line = `${i} ` + Array.from({ length: 6 + Math.floor(rnd() * 10) }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    if (i % 1000 === 999) {
      const s = SECRETS[i % 3]!;
      line += [` key=${s}`, ` key=${s.slice(0, 9)}\n${s.slice(9)}`, ` b64=${Buffer.from(s).toString('base64')}`][Math.floor(i / 1000) % 3];
    }
    line += '\n';
    lines.push(line);
    size += line.length;
  }
  return lines;
}

function pieces(lines: string[], size: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const l of lines) {
    cur += l;
    if (cur.length >= size) { out.push(cur); cur = ''; }
  }
  if (cur) out.push(cur);
  return out;
}

/** MB/s by CPU time (this process's user + system time: the machine is shared, wall time says less) and by wall time. */
function time(what: string, bytes: number, fn: () => void): void {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(`${what.padEnd(40)} ${(bytes / 1e6 / cpuS).toFixed(1).padStart(7)} MB/s CPU  ${(bytes / 1e6 / wall).toFixed(1).padStart(7)} MB/s wall`);
}

function runner(input: string[]): () => void {
  return () => {
    const s = new LogStreamer(1, () => undefined, { redact: SECRETS, maxBytes: 1e12 });
    for (const p of input) { s.write('out', p); s.ack(s.chunks - 1); }
    s.end();
  };
}

const lines = makeLog(MB * 1e6);
const bytes = lines.reduce((n, l) => n + l.length, 0);
const reads = pieces(lines, 64 * 1024);
const chunks = pieces(lines, 64 * 1024);
const old = (guard as Record<string, unknown>).redactText as ((t: string, p: readonly string[]) => string) | undefined;
const SecretMatcher = (protocol as Record<string, unknown>).SecretMatcher as (new (v: string[]) => { redact(t: string): string }) | undefined;
const serverRedact: (t: string) => string = old
  ? ((p) => (t: string) => old(t, p))([...new Set(SECRETS.flatMap(protocol.redactionPatterns))].sort((a, b) => b.length - a.length))
  : ((m) => (t: string) => m.redact(t))(new SecretMatcher!(SECRETS));
console.log(`redaction: ${(bytes / 1e6).toFixed(1)} MB, ${lines.length} lines, 3 secrets (${old ? 'before: per-stream redactors' : 'after: merged stream, line breaks, base64, hex'})`);
time('runner, 64 KiB reads', bytes, runner(reads));
time('runner, one line per write', bytes, runner(lines));
let kept = 0;
time('server, second redaction of 64 KiB chunks', bytes, () => { for (const c of chunks) kept += serverRedact(c).length; });
// A server's whole set: builders' secrets of every repository, tokens, hook and notification secrets.
for (const n of [15, 45]) {
  const many = [...SECRETS, ...Array.from({ length: n - 3 }, (_, i) => `server-secret-${i}-${(i * 7919).toString(36)}${'x7Qz'.repeat(4 + (i % 7))}`)];
  const manyRedact: (t: string) => string = old
    ? ((p) => (t: string) => old(t, p))([...new Set(many.flatMap(protocol.redactionPatterns))].sort((a, b) => b.length - a.length))
    : ((m) => (t: string) => m.redact(t))(new SecretMatcher!(many));
  time(`server, the same with ${n} secrets`, bytes, () => { for (const c of chunks) kept += manyRedact(c).length; });
}
if (kept === 0) console.log('(nothing kept)');
