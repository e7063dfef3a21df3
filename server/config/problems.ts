/**
 * What is wrong with a greengate.yml, told so that it can be fixed: each problem names its key
 * path and line, says what was found and how to fix it ("did you mean …" for an unknown key, an
 * example for a missing one). The config loader (config.ts) collects them into one ConfigError.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { GgError } from '../errors.js';

export const MAX_REPORTED_PROBLEMS = 10;

export interface ConfigProblem {
  keyPath: string;
  message: string;
  line: number | null;
  column: number | null;
}

/** GG_CONFIG_INVALID, with the key path of the first problem and every problem found. */
export class ConfigError extends GgError {
  readonly keyPath: string;
  readonly file: string | null;
  readonly problems: readonly ConfigProblem[];
  constructor(problems: ConfigProblem[], file: string | null) {
    super('GG_CONFIG_INVALID', formatProblems(problems, file));
    this.name = 'ConfigError';
    this.keyPath = problems[0]?.keyPath ?? '';
    this.file = file;
    this.problems = problems;
  }
}

export type Path = PropertyKey[];
export interface Found { path: Path; message: string; offset?: number }

const EXAMPLES: Record<string, string> = { runnerToken: 'runnerToken: ${GREENGATE_RUNNER_TOKEN}',
  name: 'name: unit', path: 'path: /srv/git/shop.git', run: 'run: npm test',
  builders: 'builders: [{ name: unit, run: npm test }]' };

export function describeIssue(issue: z.core.$ZodIssue, data: unknown, keysAt: Record<string, string[]>): Found[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = keysAt[issue.path.filter((p) => typeof p === 'string').join('.')] ?? [];
    return issue.keys.map((key) => {
      const best = suggestKey(key, allowed);
      const fix = best ? `did you mean "${best}"?` : `allowed keys: ${allowed.join(', ')}`;
      return { path: [...issue.path, key], message: `unknown key "${key}" — ${fix}` };
    });
  }
  if (issue.code !== 'invalid_type') return [{ path: issue.path, message: issue.message }];
  const found = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], data);
  const key = String(issue.path[issue.path.length - 1] ?? '');
  if (found === undefined) {
    return [{ path: issue.path, message: `missing required key "${key}" — add it, e.g. ${EXAMPLES[key] ?? `${key}: …`}` }];
  }
  const want = ({ string: 'a string', number: 'a number', array: 'a list', object: 'a mapping (key: value)' } as
    Record<string, string>)[issue.expected] ?? issue.expected;
  let fix = issue.expected === 'object' ? 'write indented key: value lines' : `write ${want}`;
  if (found === null) fix = `write ${want} after the colon, or remove the key`;
  else if (issue.expected === 'string' && typeof found !== 'object') fix = `quote it: "${String(found)}"`;
  else if (issue.expected === 'array' && typeof found === 'string') fix = `write a list: [${found}]`;
  return [{ path: issue.path, message: `expected ${want}, found ${describeValue(found)} — ${fix}` }];
}

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${String(v)}`;
}

/** The allowed name closest to `key` (a typo, other case, - or _), or undefined when none is near. */
export function suggestKey(key: string, allowed: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const ranked = allowed.map((candidate) => {
    const [a, b] = [norm(candidate), norm(key)];
    const distance = a === b ? 0 : measureDistance(candidate.toLowerCase(), key.toLowerCase());
    const near = (distance <= 3 && distance < key.length) || (b.length >= 2 && (a.startsWith(b) || b.startsWith(a)));
    return { candidate, distance: near ? distance : Infinity };
  }).sort((x, y) => x.distance - y.distance);
  return ranked[0]?.distance < Infinity ? ranked[0].candidate : undefined;
}

function measureDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

export function findDuplicates(data: unknown, out: Found[], lineOf: (at: Path) => number | null): void {
  const field = (v: unknown, k: string) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined);
  const check = (list: unknown, at: Path, noun: string, scope: string) => {
    if (!Array.isArray(list)) return;
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const name = field(item, 'name');
      if (typeof name !== 'string') return;
      const first = seen.get(name);
      if (first === undefined) return void seen.set(name, i);
      const firstAt = [...at, first, 'name'];
      const line = lineOf(firstAt);
      out.push({ path: [...at, i, 'name'], message: `duplicate ${noun} name "${name}" (also at ` +
        `${formatPath(firstAt)}${line === null ? '' : `, line ${line}`}) — ${noun} names must be unique${scope}; rename one` });
    });
  };
  const repos = field(data, 'repositories');
  check(repos, ['repositories'], 'repository', '');
  if (Array.isArray(repos)) {
    repos.forEach((r, i) => check(field(r, 'builders'), ['repositories', i, 'builders'], 'builder', ' within a repository'));
  }
}

export function locate(doc: Document, at: Path, lines: LineCounter): { line: number | null; column: number | null } {
  const start = (n: unknown) => (n !== null && typeof n === 'object' && 'range' in n && Array.isArray(n.range)
    ? (n.range[0] as number) : undefined);
  let node: unknown = doc.contents;
  let offset = start(node);
  for (const seg of at) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (!pair) break;
      offset = start(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      node = node.items[seg];
      offset = start(node) ?? offset;
    } else break;
  }
  return offset === undefined ? { line: null, column: null } : toLineColumn(lines, offset);
}

export function toLineColumn(lines: LineCounter, offset: number): { line: number; column: number } {
  return { line: lines.linePos(offset).line, column: lines.linePos(offset).col };
}

export function formatPath(at: Path): string {
  return at.map((seg, i) => (typeof seg === 'number' ? `[${seg}]`
    : /^[A-Za-z_$][\w$-]*$/.test(String(seg)) ? `${i === 0 ? '' : '.'}${String(seg)}`
    : `[${JSON.stringify(String(seg))}]`)).join('');
}

function formatProblems(problems: ConfigProblem[], file: string | null): string {
  const lines = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => {
    const pos = p.line === null ? '' : `${file === null ? 'line ' : ':'}${p.line}:${p.column}`;
    const where = [`${file ?? ''}${pos}`, p.keyPath].filter((s) => s !== '').join(': ');
    return where === '' ? p.message : `${where}: ${p.message}`;
  });
  const more = problems.length - MAX_REPORTED_PROBLEMS;
  if (more > 0) lines.push(`… and ${more} more problem${more === 1 ? '' : 's'}`);
  return lines.join('\n');
}

/** A YAML file read for checking: its document, a line counter, its data, and `fail`, which throws every problem found as one ConfigError naming `file`. */
export interface ReadYaml {
  doc: Document; lines: LineCounter; raw: unknown;
  where(at: Path): { line: number | null; column: number | null };
  fail(found: Found[]): never;
}

/** Reads YAML text for a checker (greengate.yml, a pipeline file); a syntax error or an unreadable document throws, naming the line. */
export function readYaml(text: string, file: string | null): ReadYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const where = (at: Path) => locate(doc, at, lines);
  const fail = (found: Found[]): never => {
    const problems = found.map((f) => ({ keyPath: formatPath(f.path), message: f.message,
      ...(f.offset === undefined ? where(f.path) : toLineColumn(lines, f.offset)) }));
    problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw new ConfigError(problems, file);
  };
  if (doc.errors.length > 0) {
    fail(doc.errors.map((e) => ({ path: [], offset: e.pos[0], message: `YAML syntax error: ${e.message} — ` +
      (e.code === 'DUPLICATE_KEY' ? 'remove or rename one of them' : 'check indentation and quoting') })));
  }
  let raw: unknown = {};
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    fail([{ path: [], message: `cannot read the YAML document: ${(err as Error).message}` }]);
  }
  return { doc, lines, raw, where, fail };
}
