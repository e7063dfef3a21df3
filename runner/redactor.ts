/**
 * The runner's redaction of one unit, before any of its strings leaves the runner. Values come in
 * as the unit's secrets and the runner's own tokens; what counts as an appearance of one (raw,
 * base64, hex, split by line breaks) is the protocol's rule (server/redaction.ts).
 *
 * The unit's log: stdout, stderr and greengate's own `sys` lines are merged into ONE stream in
 * arrival order before redaction, so a secret printed half on stdout and half on stderr is
 * caught like one split across two writes. `write` returns the redacted text that is safe to send
 * now, each piece labelled with the stream its characters came from (a redaction takes the label
 * of the secret's first character); `end` releases what is held back.
 *
 * The unit's report: `redactReport` redacts every string of `finished` (test names, classnames,
 * files, messages, errors) with the same values.
 */
import { Redactor, SecretMatcher, redactFinished, type FinishedMessage, type LogMessage, type Piece } from '../server/protocol.js';

export { Redactor } from '../server/protocol.js';

type Stream = LogMessage['stream'];
export interface Labelled { stream: Stream; text: string }

export class UnitRedactor {
  readonly matcher: SecretMatcher;
  private readonly redactor: Redactor;
  /** Where each stream's text starts in the merged input (only from the oldest text not yet let out). */
  private segments: { at: number; stream: Stream }[] = [];
  private written = 0;

  constructor(values: Iterable<string>) {
    this.matcher = new SecretMatcher(values);
    this.redactor = new Redactor(this.matcher);
  }

  write(stream: Stream, text: string): Labelled[] {
    if (!text) return [];
    if (this.segments.at(-1)?.stream !== stream) this.segments.push({ at: this.written, stream });
    this.written += text.length;
    return this.label(this.redactor.scan(text));
  }

  end(): Labelled[] {
    return this.label(this.redactor.endPieces());
  }

  /** The unit's `finished` with every string it reported redacted. */
  redactReport(msg: FinishedMessage): FinishedMessage {
    return this.matcher.active ? redactFinished(msg, (s) => this.matcher.redact(s)) : msg;
  }

  private label(pieces: Piece[]): Labelled[] {
    const out: Labelled[] = [];
    for (const p of pieces) {
      if (p.redacted) { add(out, this.segments[this.segmentAt(p.at)]!.stream, p.text); continue; }
      for (let from = p.at; from < p.at + p.length;) {
        const i = this.segmentAt(from);
        const to = Math.min(p.at + p.length, this.segments[i + 1]?.at ?? Infinity);
        add(out, this.segments[i]!.stream, p.text.slice(from - p.at, to - p.at));
        from = to;
      }
    }
    const last = pieces.at(-1);
    if (last) this.forgetBefore(last.at + last.length);
    return out;
  }

  /** The index of the segment holding input offset `at`. */
  private segmentAt(at: number): number {
    let i = this.segments.length - 1;
    while (i > 0 && this.segments[i]!.at > at) i--;
    return i;
  }

  private forgetBefore(at: number): void {
    let drop = 0;
    while (drop + 1 < this.segments.length && this.segments[drop + 1]!.at <= at) drop++;
    if (drop) this.segments = this.segments.slice(drop);
  }
}

function add(out: Labelled[], stream: Stream, text: string): void {
  if (!text) return;
  const last = out.at(-1);
  if (last?.stream === stream) last.text += text;
  else out.push({ stream, text });
}

/** One-shot redaction of a whole text (no streaming). */
export function redactAll(text: string, values: Iterable<string>): string {
  return new SecretMatcher(values).redact(text);
}
