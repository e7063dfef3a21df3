/**
 * What the gateway checks of a unit's log as the lifecycle stores it (protocol.ts has the
 * rules): each chunk is redacted again (the unit's secrets and the runner token; the runner
 * already did this, this is the second line) and cut at the unit's cap (maxLogBytes plus
 * MARKER_ROOM_BYTES; past it chunks are stored empty, so sequence numbers stay whole and the
 * runner's resends stay harmless), and a `finished` whose chunk count disagrees with what is
 * stored becomes an infrastructure error: the unit ends `exception` and is queued again.
 *
 * The second redaction sees one chunk at a time: a secret split across two chunks is the
 * runner's to catch (it does). Redaction may change a chunk's length; offsets stay the runner's.
 */
import { MARKER_ROOM_BYTES, REDACTED, type FinishedMessage, type LogMessage } from '../protocol.js';
import type { Store } from '../store/index.js';
import type { UnitRow } from '../store/units.js';
import type { BuilderSecrets } from './secrets.js';

export class LogGuard {
  constructor(private readonly store: Store, private readonly secrets: BuilderSecrets) {}

  /** The chunk as it may be stored: redacted and within the unit's cap (`unit`: the row the lifecycle read for it). */
  screenChunk(msg: LogMessage, unit: Pick<UnitRow, 'buildId' | 'logBytes'>): LogMessage {
    const rules = this.secrets.rulesForBuild(unit.buildId);
    let data = redactText(msg.data, rules.patterns);
    const limit = rules.maxLogBytes + MARKER_ROOM_BYTES;
    const bytes = Buffer.byteLength(data);
    if (unit.logBytes >= limit) data = '';
    else if (unit.logBytes + bytes > limit) {
      data = prefixBytes(data, limit - unit.logBytes) + `\n[greengate] log truncated by the server at ${rules.maxLogBytes} bytes (maxLogBytes)\n`;
    }
    return data === msg.data ? msg : { ...msg, data };
  }

  /** The report as the lifecycle should take it: an incomplete log makes it an infrastructure error. */
  checkFinished(msg: FinishedMessage, runnerId: number): FinishedMessage {
    const unit = this.store.units.get(msg.unit);
    if (!unit || unit.runnerId !== runnerId || unit.state !== 'running') return msg;
    const { chunks, maxSeq } = this.store.logs.stats(msg.unit);
    if (chunks === msg.chunks && maxSeq === msg.chunks - 1) return msg;
    return {
      ...msg, exitCode: null, signal: null, timedOut: false, tests: [], testsError: null,
      error: `log incomplete: the runner reported ${msg.chunks} log chunk(s), the server stored ${chunks} — the unit runs again`,
    };
  }
}

/** Replaces every pattern (longest first) with REDACTED. */
export function redactText(text: string, patterns: readonly string[]): string {
  let out = text;
  for (const p of patterns) if (out.includes(p)) out = out.split(p).join(REDACTED);
  return out;
}

/** The longest prefix of `text` within `max` bytes of UTF-8, not cutting a character. */
function prefixBytes(text: string, max: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= max) return text;
  return buf.subarray(0, max).toString('utf8').replace(/\uFFFD$/, '');
}
