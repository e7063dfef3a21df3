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

export const PATTERNS_PER_REGEX = 64; // patterns per compiled alternation (see SecretMatcher.groups)

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
  readonly longest: number;
  /** The patterns in groups of at most PATTERNS_PER_REGEX (a V8 alternation slows down sharply past a few hundred). */
  private readonly groups: RegExp[];
  private readonly byFirst = new Map<number, string[]>(); // patterns by their first character's code

  constructor(values: Iterable<string>) {
    const all = new Set<string>();
    for (const v of values) for (const p of redactionPatterns(v)) all.add(p);
    this.patterns = [...all].sort((a, b) => b.length - a.length);
    this.longest = this.patterns[0]?.length ?? 0;
    const escape = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.groups = [];
    for (let i = 0; i < this.patterns.length; i += PATTERNS_PER_REGEX) {
      this.groups.push(new RegExp(this.patterns.slice(i, i + PATTERNS_PER_REGEX).map(escape).join('|'), 'g'));
    }
    for (const p of this.patterns) {
      const list = this.byFirst.get(p.charCodeAt(0)) ?? [];
      list.push(p);
      this.byFirst.set(p.charCodeAt(0), list);
    }
  }

  get active(): boolean { return this.groups.length > 0; }

  /** `text` with every appearance of a secret replaced (no streaming). */
  redact(text: string): string {
    if (!this.active) return text;
    const r = new Redactor(this);
    return r.push(text) + r.end();
  }

  /** Where patterns appear in `s` (no line breaks in it): [start, end) ranges, overlapping ones joined, in order. */
  find(s: string): [number, number][] {
    const found: [number, number][] = [];
    for (const re of this.groups) {
      re.lastIndex = 0;
      for (let m = re.exec(s); m; m = re.exec(s)) found.push([m.index, m.index + m[0].length]);
    }
    if (this.groups.length > 1) found.sort((a, b) => a[0] - b[0]);
    const joined: [number, number][] = [];
    for (const r of found) {
      const last = joined.at(-1);
      if (last && r[0] < last[1]) last[1] = Math.max(last[1], r[1]);
      else joined.push(r);
    }
    return joined;
  }

  /**
   * Whether `buf` from `i` to its end, line breaks left out, is a proper prefix of some pattern
   * (so a secret may begin at `i` and go on in the next piece).
   */
  beginsAt(buf: string, i: number): boolean {
    const candidates = this.byFirst.get(buf.charCodeAt(i));
    if (!candidates) return false;
    for (const p of candidates) {
      let k = 1;
      let j = i + 1;
      for (; j < buf.length && k < p.length; j++) {
        const c = buf.charCodeAt(j);
        if (c === 10 || c === 13) continue;
        if (c !== p.charCodeAt(k)) break;
        k++;
      }
      if (j === buf.length && k < p.length) return true;
    }
    return false;
  }
}

/** Streaming redaction of one merged output (see the contract above). */
export class Redactor {
  readonly matcher: SecretMatcher;
  private held = '';
  private heldAt = 0; // input offset of held[0]
  private heldBreaks = 0; // line breaks in held

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
    const at = this.heldAt;
    if (!this.matcher.active) { this.heldAt += text.length; return text ? [plain(at, text)] : []; }
    if (this.held && this.heldBreaks + text.length <= MAX_HELD_BREAKS && onlyBreaks(text)) {
      // Line breaks after a partial secret: it still may go on, and nothing new can match.
      this.held += text;
      this.heldBreaks += text.length;
      return [];
    }
    const buf = this.held + text;
    const hasBreaks = buf.includes('\n') || buf.includes('\r');
    const found = this.matcher.find(hasBreaks ? buf.replace(BREAKS, '') : buf);
    const toBuf = hasBreaks && found.length ? breakMap(buf) : (i: number) => i;
    const pieces: Piece[] = [];
    let last = 0;
    for (const [s, e] of found) {
      const start = toBuf(s);
      const end = toBuf(e - 1) + 1;
      if (start > last) pieces.push(plain(at + last, buf.slice(last, start)));
      pieces.push({ at: at + start, length: end - start, text: REDACTED + buf.slice(start, end).replace(/[^\r\n]/g, ''), redacted: true });
      last = end;
    }
    const keep = this.holdFrom(buf, last);
    if (keep > last) pieces.push(plain(at + last, buf.slice(last, keep)));
    this.held = buf.slice(keep);
    this.heldAt = at + keep;
    this.heldBreaks = this.held.length - this.held.replace(BREAKS, '').length;
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
    this.heldBreaks = 0;
    return piece;
  }

  /** Where the tail that could still begin a secret starts in `buf` (after `from`; buf.length: none). */
  private holdFrom(buf: string, from: number): number {
    let hold = buf.length;
    let chars = 0;
    let breaks = 0;
    for (let i = buf.length - 1; i >= from && chars < this.matcher.longest - 1; i--) {
      const c = buf.charCodeAt(i);
      if (c === 10 || c === 13) {
        if (++breaks > MAX_HELD_BREAKS) break;
        continue;
      }
      chars++;
      if (this.matcher.beginsAt(buf, i)) hold = i;
    }
    return hold;
  }
}

/** Maps an index into `buf` with its line breaks left out back to its index in `buf`. */
function breakMap(buf: string): (i: number) => number {
  const shifted: number[] = []; // for the k-th line break: the index (line breaks left out) before which it sits
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

function onlyBreaks(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 10 && c !== 13) return false;
  }
  return true;
}

function plain(at: number, text: string): Piece {
  return { at, length: text.length, text, redacted: false };
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
