/**
 * Turns a unit's output into log chunks: each with a sequence number and the byte offset of its
 * first byte, at most MAX_CHUNK_BYTES, sent when FLUSH_MS has passed or CHUNK_TARGET_BYTES have
 * gathered. A chunk stays in memory until the server acks it and is sent again after a
 * reconnect; past MAX_UNACKED_BYTES the oldest output is replaced by one marker line, so a
 * runner cut off for long cannot run out of memory.
 *
 * Before any byte is queued, the text passes the unit's redactor (redactor.ts: stdout, stderr and
 * sys merged in arrival order, so a secret split across writes or streams is caught) and the
 * unit's cap: past `maxBytes` nothing more is sent except one marker line. `end()` releases what
 * the decoders and the redactor hold back and sends the rest; call it once the unit's commands
 * have ended.
 */
import { StringDecoder } from 'node:string_decoder';
import { DEFAULT_MAX_LOG_BYTES, MAX_CHUNK_BYTES, type LogMessage } from '../server/protocol.js';
import { UnitRedactor, type Labelled } from './redactor.js';

export const FLUSH_MS = 20; // 20 milliseconds: live logs stay live
export const CHUNK_TARGET_BYTES = 32 * 1024;
export const MAX_UNACKED_BYTES = 256 * 1024 * 1024; // 256 MiB per unit

type Stream = LogMessage['stream'];

export class LogStreamer {
  private seq = 0;
  private offset = 0;
  private pending = '';
  private pendingBytes = 0;
  private pendingStream: Stream = 'out';
  private timer: NodeJS.Timeout | null = null;
  private readonly decoders: Record<Stream, StringDecoder> = {
    out: new StringDecoder('utf8'), err: new StringDecoder('utf8'), sys: new StringDecoder('utf8'),
  };
  private readonly unacked = new Map<number, LogMessage>();
  private unackedBytes = 0;
  private dropped = 0;
  private truncated = false;
  readonly redactor: UnitRedactor;
  private readonly maxBytes: number;

  constructor(readonly unit: number, private readonly send: (msg: LogMessage) => void,
    opts: { redact?: readonly string[]; maxBytes?: number } = {}) {
    this.redactor = new UnitRedactor(opts.redact ?? []);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_LOG_BYTES;
  }

  get chunks(): number { return this.seq; }
  get allAcked(): boolean { return this.unacked.size === 0 && this.pendingBytes === 0; }

  write(stream: Stream, data: Buffer | string): void {
    if (this.truncated) return;
    this.appendAll(this.redactor.write(stream, typeof data === 'string' ? data : this.decoders[stream].write(data)));
  }

  /** The unit's output is complete: releases held-back text and sends everything pending. */
  end(): void {
    for (const s of ['out', 'err'] as const) this.appendAll(this.redactor.write(s, this.decoders[s].end()));
    this.appendAll(this.redactor.end());
    this.flush();
  }

  private appendAll(pieces: Labelled[]): void {
    for (const p of pieces) this.append(p.stream, p.text);
  }

  private append(stream: Stream, text: string): void {
    if (!text || this.truncated) return;
    if (stream !== this.pendingStream && this.pendingBytes > 0) this.flush();
    this.pendingStream = stream;
    this.pending += text;
    this.pendingBytes += Buffer.byteLength(text);
    if (this.pendingBytes >= CHUNK_TARGET_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Sends what is pending, split so no chunk exceeds MAX_CHUNK_BYTES. */
  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    while (this.pending.length > 0) {
      const piece = takeChunk(this.pending, MAX_CHUNK_BYTES);
      this.pending = this.pending.slice(piece.length);
      this.emit(this.pendingStream, piece);
    }
    this.pendingBytes = 0;
  }

  ack(seq: number): void {
    const chunk = this.unacked.get(seq);
    if (!chunk) return;
    this.unacked.delete(seq);
    this.unackedBytes -= Buffer.byteLength(chunk.data);
  }

  /** After a reconnect: every chunk not yet acked, in order. */
  resend(): void {
    for (const chunk of [...this.unacked.values()].sort((a, b) => a.seq - b.seq)) this.send(chunk);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Queues one chunk, or at the cap the part that fits and the marker line, then nothing more. */
  private emit(stream: Stream, data: string): void {
    if (this.truncated) return;
    if (this.offset + Buffer.byteLength(data) > this.maxBytes) {
      const head = takeChunk(data, Math.max(0, this.maxBytes - this.offset));
      if (head) this.emitChunk(stream, head);
      this.truncated = true;
      this.emitChunk('sys', `[greengate] log truncated at ${this.maxBytes} bytes (maxLogBytes)\n`);
      return;
    }
    this.emitChunk(stream, data);
  }

  private emitChunk(stream: Stream, data: string): void {
    const bytes = Buffer.byteLength(data);
    const chunk: LogMessage = { type: 'log', unit: this.unit, seq: this.seq++, offset: this.offset, stream, data };
    this.offset += bytes;
    this.unacked.set(chunk.seq, chunk);
    this.unackedBytes += bytes;
    while (this.unackedBytes > MAX_UNACKED_BYTES && this.unacked.size > 1) this.shed();
    this.send(chunk);
  }

  /** Replaces the oldest unacked chunk's text with a marker (same seq, so the log stays gap-free). */
  private shed(): void {
    const [seq, oldest] = this.unacked.entries().next().value as [number, LogMessage];
    this.unacked.delete(seq);
    this.unackedBytes -= Buffer.byteLength(oldest.data);
    this.dropped += Buffer.byteLength(oldest.data);
    const marker = `[greengate: ${this.dropped} bytes of output dropped while the server was unreachable]\n`;
    this.unacked.set(seq, { ...oldest, stream: 'sys', data: marker });
    this.unackedBytes += Buffer.byteLength(marker);
  }
}

/** The longest prefix of `text` within `maxBytes` bytes of UTF-8, not splitting a surrogate pair. */
export function takeChunk(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  let lo = 0;
  let hi = Math.min(text.length, maxBytes);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(text.slice(0, mid)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  const code = text.charCodeAt(lo - 1);
  return code >= 0xd800 && code <= 0xdbff ? text.slice(0, lo - 1) : text.slice(0, lo);
}
