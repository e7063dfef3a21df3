/**
 * What the gateway checks of what a unit reports as the lifecycle stores it (protocol.ts has the
 * rules): each log chunk and every string of `finished` (test names, classnames, files,
 * messages, errors) is redacted again with every secret the server holds (the unit's builder's,
 * every other builder's, the runner/admin/Alertmanager tokens, hook and notification secrets:
 * serverSecrets.ts; the runner already did this with what it knows, this is the second line),
 * each chunk is cut at the unit's cap (maxLogBytes plus
 * MARKER_ROOM_BYTES; past it chunks are stored empty, so sequence numbers stay whole and the
 * runner's resends stay harmless), and a `finished` whose chunk count disagrees with what is
 * stored becomes an infrastructure error: the unit ends `exception` and is queued again.
 *
 * The second redaction sees one chunk at a time: a secret split across two chunks is the
 * runner's to catch (it does; within a chunk, line breaks and base64/hex are caught here too).
 * Redaction may change a chunk's length; offsets stay the runner's.
 */
import { MARKER_ROOM_BYTES, redactFinished, type FinishedMessage, type LogMessage } from '../protocol.js';
import type { Store } from '../store/index.js';
import type { UnitRow } from '../store/units.js';
import type { BuilderSecrets } from './secrets.js';

export class LogGuard {
  constructor(private readonly store: Store, private readonly secrets: BuilderSecrets) {}

  /** The chunk as it may be stored: redacted and within the unit's cap (`unit`: the row the lifecycle read for it). */
  screenChunk(msg: LogMessage, unit: Pick<UnitRow, 'buildId' | 'logBytes'>): LogMessage {
    const rules = this.secrets.rulesForBuild(unit.buildId);
    let data = rules.matcher.redact(msg.data);
    const limit = rules.maxLogBytes + MARKER_ROOM_BYTES;
    const bytes = Buffer.byteLength(data);
    if (unit.logBytes >= limit) data = '';
    else if (unit.logBytes + bytes > limit) {
      data = prefixBytes(data, limit - unit.logBytes) + `\n[greengate] log truncated by the server at ${rules.maxLogBytes} bytes (maxLogBytes)\n`;
    }
    return data === msg.data ? msg : { ...msg, data };
  }

  /**
   * The report as the lifecycle should take it: every string redacted; an incomplete log makes
   * it an infrastructure error. `unit`: its row, when the caller has just read it.
   */
  checkFinished(received: FinishedMessage, runnerId: number, unit: UnitRow | undefined = this.store.units.get(received.unit)): FinishedMessage {
    if (!unit) return received; // not stored: the lifecycle refuses it
    const { matcher } = this.secrets.rulesForBuild(unit.buildId);
    const msg = redactFinished(received, (s) => matcher.redact(s));
    if (unit.runnerId !== runnerId || unit.state !== 'running') return msg;
    const { chunks, maxSeq } = this.store.logs.stats(msg.unit);
    if (chunks === msg.chunks && maxSeq === msg.chunks - 1) return msg;
    return {
      ...msg, exitCode: null, signal: null, timedOut: false, tests: [], testsError: null,
      error: `log incomplete: the runner reported ${msg.chunks} log chunk(s), the server stored ${chunks} — the unit runs again`,
    };
  }
}

/** The longest prefix of `text` within `max` bytes of UTF-8, not cutting a character. */
function prefixBytes(text: string, max: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= max) return text;
  return buf.subarray(0, max).toString('utf8').replace(/\uFFFD$/, '');
}
