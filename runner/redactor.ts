/**
 * Redacts secret values from a stream of text before it leaves the runner. Values come in as
 * the unit's secrets and the runner's own tokens; each becomes the patterns of
 * `redactionPatterns` (at least MIN_SECRET_LENGTH characters) and is replaced by REDACTED.
 *
 * Streaming: output arrives in arbitrary pieces, so a secret may be split across two of them.
 * `push` returns the text that is safe to send and holds back the longest tail that could still
 * be the start of a secret (at most the longest pattern minus one character); `end` releases it
 * once no more text will come. Text without any secret passes through unchanged.
 */
import { REDACTED, redactionPatterns } from '../server/protocol.js';

export class Redactor {
  private readonly patterns: string[];
  private readonly re: RegExp | null;
  private held = '';

  constructor(values: Iterable<string>) {
    const all = new Set<string>();
    for (const v of values) for (const p of redactionPatterns(v)) all.add(p);
    this.patterns = [...all].sort((a, b) => b.length - a.length);
    this.re = this.patterns.length
      ? new RegExp(this.patterns.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : null;
  }

  get active(): boolean { return this.re !== null; }

  /** The part of held + text that is safe to send now, with every complete secret replaced. */
  push(text: string): string {
    if (!this.re) return text;
    const buf = this.held + text;
    let out = '';
    let last = 0;
    for (const m of buf.matchAll(this.re)) {
      out += buf.slice(last, m.index) + REDACTED;
      last = m.index + m[0].length;
    }
    const rest = buf.slice(last);
    const hold = this.partialTail(rest);
    this.held = rest.slice(rest.length - hold);
    return out + rest.slice(0, rest.length - hold);
  }

  /** What was held back: no secret can complete any more, so it is safe as it is. */
  end(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `s` that is a proper prefix of some pattern. */
  private partialTail(s: string): number {
    const longest = Math.min(s.length, this.patterns[0].length - 1);
    for (let k = longest; k > 0; k--) {
      const tail = s.slice(s.length - k);
      if (this.patterns.some((p) => p.length > k && p.startsWith(tail))) return k;
    }
    return 0;
  }
}

/** One-shot redaction of a whole text (no streaming). */
export function redactAll(text: string, values: Iterable<string>): string {
  const r = new Redactor(values);
  return r.push(text) + r.end();
}
