/**
 * Many fake runners in one process, for `npm run bench:scale` (test/bench/scale.ts forks this
 * file with an IPC channel; it is not a test). Each fake runner is one WebSocket speaking the
 * real protocol (server/protocol.ts): hello → welcome, a heartbeat every heartbeatMs, and for
 * each assign at once `started`, one log chunk and `finished` (exit 0, no tests). It never
 * reconnects, so a runner the server drops stays dropped and is counted.
 *
 * IPC, parent → child: { type: 'start', server, token, count, slots, prefix }, { type: 'stop' }.
 * Child → parent: { type: 'connected', ms } once every runner is welcomed (ms since start),
 * { type: 'assign', at } for the first assign only, { type: 'report', ... } on request
 * ({ type: 'report' }) and before exiting after 'stop'.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION, WS_PATH, parseServerMessage, type RunnerMessage } from '../../server/protocol.js';

interface Start { type: 'start'; server: string; token: string; count: number; slots: number; prefix: string }

interface Counts {
  welcomed: number; assigned: number; finished: number; acked: number; refused: number; cancelled: number;
  /** Close codes of sockets the server closed after welcoming them (the runners dropped). */
  dropped: Record<string, number>;
  firstAssignAt: number | null; lastFinishedAt: number | null;
}

const counts: Counts = { welcomed: 0, assigned: 0, finished: 0, acked: 0, refused: 0, cancelled: 0, dropped: {}, firstAssignAt: null, lastFinishedAt: null };
const sockets: WebSocket[] = [];
const timers: NodeJS.Timeout[] = [];
let stopping = false;

function send(message: unknown): void {
  process.send?.(message);
}

function frame(ws: WebSocket, msg: RunnerMessage): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function startRunner(opts: Start, index: number, startedAt: number): void {
  const ws = new WebSocket(opts.server.replace(/^http/, 'ws') + WS_PATH, { perMessageDeflate: false, handshakeTimeout: 60_000 });
  sockets.push(ws);
  let welcomed = false;
  ws.on('open', () => {
    frame(ws, { type: 'hello', protocol: PROTOCOL_VERSION, token: opts.token, name: `${opts.prefix}${index}`, slots: opts.slots,
      version: 'bench-fake', labels: {}, units: [] });
  });
  ws.on('message', (data) => {
    const msg = parseServerMessage(data as Buffer);
    switch (msg.type) {
      case 'welcome': {
        welcomed = true;
        counts.welcomed += 1;
        timers.push(setInterval(() => frame(ws, { type: 'heartbeat' }), msg.heartbeatMs));
        if (counts.welcomed === opts.count) send({ type: 'connected', ms: Date.now() - startedAt });
        return;
      }
      case 'assign': {
        const now = Date.now();
        counts.assigned += 1;
        if (counts.firstAssignAt === null) {
          counts.firstAssignAt = now;
          send({ type: 'assign', at: now });
        }
        const data = `ran ${msg.files.length} files\n`;
        frame(ws, { type: 'started', unit: msg.unit, at: now });
        frame(ws, { type: 'log', unit: msg.unit, seq: 0, offset: 0, stream: 'out', data });
        frame(ws, { type: 'finished', unit: msg.unit, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 1,
          durationMs: 1, tests: [], testsError: null, setupMs: null, cacheHit: null });
        counts.finished += 1;
        counts.lastFinishedAt = now;
        return;
      }
      case 'ackFinished': counts.acked += 1; return;
      case 'refuse': counts.refused += 1; return;
      case 'cancel': counts.cancelled += 1; return;
      default: return;
    }
  });
  ws.on('close', (code) => {
    if (welcomed && !stopping) counts.dropped[code] = (counts.dropped[code] ?? 0) + 1;
  });
  ws.on('error', () => { /* counted at close */ });
}

function report(): void {
  send({ type: 'report', ...counts, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length });
}

process.on('message', (msg: { type: string } & Partial<Start>) => {
  if (msg.type === 'start') {
    const opts = msg as Start;
    const startedAt = Date.now();
    for (let i = 0; i < opts.count; i += 1) startRunner(opts, i + 1, startedAt);
  } else if (msg.type === 'report') {
    report();
  } else if (msg.type === 'stop') {
    stopping = true;
    report();
    for (const t of timers) clearInterval(t);
    for (const s of sockets) s.terminate();
    setImmediate(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
