/**
 * Redaction: the rule both sides of the runner⇄server protocol apply to every string a unit
 * reports (its log, its `finished` message). Part of the protocol module, which re-exports it:
 * the runner reaches it through server/protocol.ts only.
 *
 * What counts as an appearance of a secret value (values shorter than MIN_SECRET_LENGTH are
 * never redacted: they would mask ordinary words):
 * - the value without surrounding whitespace, and for a multi-line value (a key file) each of its
 *   lines of MIN_SECRET_LENGTH or more;
 * - the standard base64 of each of those (padded, and the stable middle at each of the three
 *   byte alignments, so the value base64-encoded inside a longer text is caught too) and its
 *   lower- and upper-case hex;
 * - any of the above with line breaks (CR, LF) inserted anywhere in it: matching ignores line
 *   breaks, so "abc\ndef", "abc\r\ndef" and `base64`'s 76-column wrapping are caught.
 * A match, with the line breaks inside it, becomes REDACTED followed by those line breaks (the
 * log keeps its line count). Anything else a unit does to a value (reversing it, spaces, other
 * encodings) is not caught: redaction is the last line, the sandbox is the first.
 *
 * Streaming (Redactor): a unit's output arrives in pieces, one merged stream of stdout and
 * stderr in arrival order. `scan` returns what is safe to pass on and holds back the longest
 * tail that could still begin a secret (up to the longest pattern, plus at most MAX_HELD_BREAKS
 * line breaks inside it: a partial value followed by more line breaks than that is released).
 * `end` releases what is held. Pieces carry their offset in the input, so the caller can tell
 * which of its streams each came from.
 */

export const MIN_SECRET_LENGTH = 6; // shorter values are not redacted (they would mask ordinary words)
export const REDACTED = '[REDACTED]';
export const MAX_HELD_BREAKS = 4096; // line breaks a held partial secret may span before it is released

const BREAKS = /[\r\n]/g;

/** The strings redacted for one secret value (see the contract above), longest first, line breaks removed. */
export function redactionPatterns(value: string): string[] {
  const out = new Set<string>();
  const forms = (s: string) => {
    if (s.length < MIN_SECRET_LENGTH) return;
    out.add(s.replace(BREAKS, ''));
    const bytes = Buffer.from(s, 'utf8');
    const hex = bytes.toString('hex');
    out.add(hex).add(hex.toUpperCase()).add(bytes.toString('base64'));
    for (const k of [0, 1, 2]) {
      const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
      const middle = enc.slice(Math.ceil((4 * k) / 3), Math.floor((4 * (k + bytes.length)) / 3));
      if (middle.length >= MIN_SECRET_LENGTH) out.add(middle);
    }
  };
  forms(value.trim());
  if (/[\r\n]/.test(value)) for (const line of value.split(/\r?\n/)) forms(line.trim());
  return [...out].filter((p) => p.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** A piece of redacted output: `text` stands for `length` characters of the input from offset `at`; `redacted` when it replaces a secret. */
export interface Piece { at: number; length: number; text: string; redacted: boolean }

/** The patterns of a set of secret values, compiled once; `redact` is the one-shot form. */
export class SecretMatcher {
  readonly patterns: readonly string[];
  readonly re: RegExp | null;
  private readonly starts: Set<string>;

  constructor(values: Iterable<string>) {
    const all = new Set<string>();
    for (const v of values) for (const p of redactionPatterns(v)) all.add(p);
    this.patterns = [...all].sort((a, b) => b.length - a.length);
    this.re = this.patterns.length
      ? new RegExp(this.patterns.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : null;
    this.starts = new Set(this.patterns.map((p) => p[0]!));
  }

  get active(): boolean { return this.re !== null; }
  get longest(): number { return this.patterns[0]?.length ?? 0; }

  /** `text` with every appearance of a secret replaced (no streaming). */
  redact(text: string): string {
    if (!this.re) return text;
    const r = new Redactor(this);
    return r.push(text) + r.end();
  }

  /** Length of the longest suffix of `s` after `from` that is a proper prefix of some pattern. */
  partialTail(s: string, from: number): number {
    for (let k = Math.min(s.length - from, this.longest - 1); k > 0; k--) {
      if (!this.starts.has(s[s.length - k]!)) continue;
      const tail = s.slice(s.length - k);
      if (this.patterns.some((p) => p.length > k && p.startsWith(tail))) return k;
    }
    return 0;
  }
}

/** Streaming redaction of one merged output (see the contract above). */
export class Redactor {
  readonly matcher: SecretMatcher;
  private held = '';
  private heldAt = 0; // input offset of held[0]

  constructor(values: Iterable<string> | SecretMatcher) {
    this.matcher = values instanceof SecretMatcher ? values : new SecretMatcher(values);
  }

  get active(): boolean { return this.matcher.active; }

  /** The redacted text that is safe to pass on now. */
  push(text: string): string {
    return this.scan(text).map((p) => p.text).join('');
  }

  /** As push, in pieces that say where in the input each starts. */
  scan(text: string): Piece[] {
    const re = this.matcher.re;
    const at = this.heldAt;
    if (!re) { this.heldAt += text.length; return text ? [plain(at, text)] : []; }
    const buf = this.held + text;
    const hasBreaks = buf.includes('\n') || buf.includes('\r');
    const norm = hasBreaks ? buf.replace(BREAKS, '') : buf;
    const toBuf = hasBreaks ? breakMap(buf) : (i: number) => i;
    const pieces: Piece[] = [];
    let last = 0; // in buf
    let lastNorm = 0;
    re.lastIndex = 0;
    for (let m = re.exec(norm); m; m = re.exec(norm)) {
      const start = toBuf(m.index);
      const end = toBuf(m.index + m[0].length - 1) + 1;
      if (start > last) pieces.push(plain(at + last, buf.slice(last, start)));
      pieces.push({ at: at + start, length: end - start, text: REDACTED + buf.slice(start, end).replace(/[^\r\n]/g, ''), redacted: true });
      last = end;
      lastNorm = m.index + m[0].length;
    }
    const hold = this.matcher.partialTail(norm, lastNorm);
    let keep = hold ? toBuf(norm.length - hold) : buf.length;
    if (buf.length - keep > this.matcher.longest + MAX_HELD_BREAKS) keep = buf.length;
    if (keep > last) pieces.push(plain(at + last, buf.slice(last, keep)));
    this.held = buf.slice(keep);
    this.heldAt = at + keep;
    return pieces;
  }

  /** What is held back: no secret can complete any more, so it is safe as it is. */
  end(): string {
    return this.endPieces().map((p) => p.text).join('');
  }

  endPieces(): Piece[] {
    const piece = this.held ? [plain(this.heldAt, this.held)] : [];
    this.heldAt += this.held.length;
    this.held = '';
    return piece;
  }
}

function plain(at: number, text: string): Piece {
  return { at, length: text.length, text, redacted: false };
}

/** Maps an index into `buf` with its line breaks removed back to its index in `buf`. */
function breakMap(buf: string): (i: number) => number {
  const shifted: number[] = []; // for the k-th break: the index (line breaks removed) before which it sits
  const re = /[\r\n]/g;
  for (let m = re.exec(buf); m; m = re.exec(buf)) shifted.push(m.index - shifted.length);
  return (i) => {
    let lo = 0;
    let hi = shifted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (shifted[mid]! <= i) lo = mid + 1;
      else hi = mid;
    }
    return i + lo;
  };
}

/** Every string in `value` (objects and arrays, deep) passed through `redact`, except under the keys in `keep`. */
export function redactStrings<T>(value: T, redact: (s: string) => string, keep: ReadonlySet<string> = KEEP_KEYS): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redact, keep)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keep.has(k) ? v : redactStrings(v, redact, keep)])) as T;
  }
  return value;
}
/** Protocol fields that hold greengate's own words (a message type, a test status), never a unit's. */
const KEEP_KEYS: ReadonlySet<string> = new Set(['type', 'status']);
