/**
 * A flags file (flagd's JSON schema, https://flagd.dev/schema/v0/flags.json) read and checked
 * strictly, the same way at push time (the pre-receive gate, gate.ts) and when it is served
 * (library.ts). Pure: text in, definitions or problems out.
 *
 * Checks, each problem one line naming the flag and the fix: JSON; the top level an object with
 * `flags`; every `$ref` names a key of `$evaluators`; every flag's `defaultVariant` (when set) is
 * one of its variants; the schema, validated by flagd-core itself (strict); every targeting rule
 * one flagd-core can build (it otherwise only logs a warning and answers PARSE_ERROR at run time).
 */
import { MemoryStorage } from '@openfeature/flagd-core';
import type { Logger as OfLogger } from '@openfeature/core';

export const MAX_FLAGS_BYTES = 1024 * 1024; // 1 MiB: a flags file is read whole into memory
export const MAX_PROBLEMS = 10; // problems reported for one file

/** One flag as written (the parts greengate reads itself; flagd-core keeps the rest). */
export interface FlagDefinition {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, unknown>;
  defaultVariant?: string | null;
  targeting?: unknown;
  metadata?: Record<string, unknown>;
}
export interface FlagSetDefinition {
  /** The file's text, as flagd-core is given it. */
  text: string;
  flags: Record<string, FlagDefinition>;
  evaluators: Record<string, unknown>;
}
export type Checked = { ok: true; set: FlagSetDefinition } | { ok: false; problems: string[] };

/** Reads and checks a flags file's text; `file` names it in the problems. */
export function checkFlagsFile(text: string, file: string): Checked {
  if (Buffer.byteLength(text) > MAX_FLAGS_BYTES) return bad(`${file} is over ${MAX_FLAGS_BYTES} bytes — split the flags or remove old ones`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return bad(`${file} is not JSON: ${(err as Error).message} — check commas and quotes`);
  }
  if (!isObject(doc) || !isObject(doc.flags)) return bad(`${file} must be a JSON object with "flags": { "KEY": { "state", "variants", "defaultVariant" } } (flagd's schema)`);
  const evaluators = doc.$evaluators === undefined ? {} : doc.$evaluators;
  if (!isObject(evaluators)) return bad(`${file}: "$evaluators" must be an object of named rules`);
  const problems: string[] = [];
  for (const [key, flag] of Object.entries(doc.flags)) {
    if (!isObject(flag)) { problems.push(`${file}: flag "${key}" must be an object with state, variants and defaultVariant`); continue; }
    for (const ref of refsIn(flag.targeting)) {
      if (!(ref in evaluators)) problems.push(`${file}: flag "${key}" uses {"$ref": "${ref}"} but "$evaluators" has no "${ref}" — define it or fix the name (known: ${Object.keys(evaluators).join(', ') || 'none'})`);
    }
    const variants = isObject(flag.variants) ? flag.variants : {};
    const dv = flag.defaultVariant;
    if (dv !== undefined && dv !== null && (typeof dv !== 'string' || !(dv in variants))) {
      problems.push(`${file}: flag "${key}" has defaultVariant ${JSON.stringify(dv)}, which is not one of its variants (${Object.keys(variants).join(', ') || 'none'}) — name one of them`);
    }
  }
  for (const ref of refsIn(evaluators)) {
    if (!(ref in evaluators)) problems.push(`${file}: an evaluator uses {"$ref": "${ref}"} but "$evaluators" has no "${ref}"`);
  }
  if (problems.length) return { ok: false, problems: problems.slice(0, MAX_PROBLEMS) };
  const warnings: string[] = [];
  const logger = collectingLogger(warnings);
  try {
    new MemoryStorage(logger).setConfigurations(text, true);
  } catch (err) {
    return { ok: false, problems: schemaProblems(err as Error, file) };
  }
  for (const w of warnings) {
    const m = /Invalid targeting configuration for flag '(.*)'/.exec(w);
    if (m) problems.push(`${file}: flag "${m[1]}" has a targeting rule flagd cannot parse (an unknown operator, or a malformed one) — see https://flagd.dev/reference/flag-definitions/#targeting-rules`);
  }
  if (problems.length) return { ok: false, problems: problems.slice(0, MAX_PROBLEMS) };
  return { ok: true, set: { text, flags: doc.flags as Record<string, FlagDefinition>, evaluators } };
}

function bad(problem: string): Checked {
  return { ok: false, problems: [problem] };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Every `$ref` name in a JSON value. */
function refsIn(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (isObject(v)) {
    if (typeof v.$ref === 'string') out.push(v.$ref);
    for (const x of Object.values(v)) refsIn(x, out);
  }
  return out;
}

/** flagd-core's ParseError: its JSON list of schema errors (ajv's), or its cause, as lines naming the file. */
function schemaProblems(err: Error, file: string): string[] {
  const cause = (err as { cause?: Error }).cause;
  if (cause) return [`${file}: ${cause.message.split('\n')[0].slice(0, 300)}`];
  const at = err.message.indexOf('[');
  try {
    const list = JSON.parse(err.message.slice(at)) as { instancePath: string; message: string; params?: Record<string, unknown> }[];
    const lines = list.filter((e) => e.message !== 'must match a schema in anyOf' && e.message !== 'must match exactly one schema in oneOf')
      .map((e) => `${file}: ${e.instancePath || '/'} ${e.message}${e.params?.additionalProperty ? ` ("${String(e.params.additionalProperty)}")` : ''}${e.params?.allowedValues ? ` (${JSON.stringify(e.params.allowedValues)})` : ''}`);
    return [...new Set(lines.length ? lines : list.map((e) => `${file}: ${e.instancePath || '/'} ${e.message}`))].slice(0, MAX_PROBLEMS);
  } catch {
    return [`${file}: ${err.message.slice(0, 300)}`];
  }
}

function collectingLogger(warnings: string[]): OfLogger {
  return { error: (...a: unknown[]) => warnings.push(a.map(String).join(' ')), warn: (...a: unknown[]) => warnings.push(a.map(String).join(' ')),
    info: () => undefined, debug: () => undefined };
}
