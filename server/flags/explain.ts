/**
 * Why a flag gave a context the variant it did, for the flag page: flagd-core's answer (value,
 * variant, reason: evaluator.ts) plus a walk over the flag's targeting. A top-level `if` is taken
 * branch by branch: each condition (its `$ref` groups expanded from `$evaluators`) is evaluated on
 * its own with flagd-core, and the first true one is the branch that matched; any other rule is
 * shown whole with flagd's reason. Pure: no I/O.
 */
import type { EvaluationContext } from '@openfeature/core';
import { checkFlagsFile, type FlagSetDefinition } from './definitions.js';
import { FlagSet, type Evaluation, type KillLookup } from './evaluator.js';

export interface Branch { index: number; condition: string; groups: string[]; result: boolean | null; then: string }
export interface Explanation { evaluation: Evaluation; lines: string[]; branches: Branch[]; matched: number | null }

export function explain(set: FlagSet, key: string, context: EvaluationContext, killed: KillLookup): Explanation {
  const evaluation = set.evaluate(key, context, killed);
  const def = set.definition.flags[key];
  const out: Explanation = { evaluation, lines: [], branches: [], matched: null };
  if (!def) { out.lines.push(`no flag "${key}" in the flags file`); return out; }
  const kill = killed(key);
  if (kill) {
    out.lines.push(`killed by ${kill.actor}${kill.message ? ` (“${kill.message}”)` : ''}: every context gets ${def.defaultVariant ? `its defaultVariant "${def.defaultVariant}"` : 'the SDK\'s code default (no defaultVariant)'}; the rules are not looked at`);
    return out;
  }
  if (def.state === 'DISABLED') { out.lines.push('state DISABLED in the flags file: no value is served, the SDK uses its code default'); return out; }
  const targeting = def.targeting as Record<string, unknown> | undefined;
  if (!targeting || Object.keys(targeting).length === 0) {
    out.lines.push(`no targeting rule: everyone gets the defaultVariant "${def.defaultVariant ?? '(none)'}" (STATIC)`);
    return out;
  }
  const branches = Array.isArray(targeting.if) && Object.keys(targeting).length === 1 ? targeting.if as unknown[] : null;
  if (!branches) {
    out.lines.push(`one rule (${Object.keys(targeting).join(', ')}), evaluated whole by flagd: ${describe(evaluation)}`);
    return out;
  }
  const expand = (v: unknown) => expandRefs(v, set.definition.evaluators);
  for (let i = 0; i + 1 < branches.length; i += 2) {
    const result = holds(set.definition, expand(branches[i]), context);
    out.branches.push({ index: i / 2 + 1, condition: JSON.stringify(branches[i]), groups: refsIn(branches[i]), result, then: JSON.stringify(branches[i + 1]) });
    if (result && out.matched === null) out.matched = i / 2 + 1;
  }
  const hasElse = branches.length % 2 === 1;
  if (out.matched !== null) {
    const b = out.branches[out.matched - 1];
    out.lines.push(`branch ${b.index} matched${b.groups.length ? ` (group${b.groups.length > 1 ? 's' : ''} ${b.groups.join(', ')})` : ''}: its value ${b.then} gave ${describe(evaluation)}`);
  } else if (hasElse) {
    out.lines.push(`no condition held: the last (else) value ${JSON.stringify(branches[branches.length - 1])} gave ${describe(evaluation)}`);
  } else {
    out.lines.push(`no condition held and there is no else: the defaultVariant, ${describe(evaluation)}`);
  }
  return out;
}

function describe(e: Evaluation): string {
  const b = e.body as { value?: unknown; variant?: string; reason?: string; errorCode?: string; errorDetails?: string };
  if (b.errorCode) return `error ${b.errorCode} (${b.errorDetails ?? ''})`;
  return b.value === undefined ? `no value, reason ${b.reason}` : `variant "${b.variant}" (${JSON.stringify(b.value)}), reason ${b.reason}`;
}

/** Whether one condition holds for the context (flagd-core evaluates it as a flag of its own); null if it cannot say. */
function holds(def: FlagSetDefinition, condition: unknown, context: EvaluationContext): boolean | null {
  const text = JSON.stringify({ flags: { probe: { state: 'ENABLED', variants: { yes: true, no: false }, defaultVariant: 'no', targeting: { if: [condition, 'yes', 'no'] } } } });
  const checked = checkFlagsFile(text, 'probe');
  if (!checked.ok) return null;
  const e = new FlagSet(checked.set).evaluate('probe', context, () => null);
  const b = e.body as { value?: unknown };
  return e.status === 200 && typeof b.value === 'boolean' ? b.value : null;
}

function expandRefs(v: unknown, evaluators: Record<string, unknown>, depth = 0): unknown {
  if (depth > 20) return v;
  if (Array.isArray(v)) return v.map((x) => expandRefs(x, evaluators, depth + 1));
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$ref === 'string' && Object.keys(o).length === 1 && o.$ref in evaluators) return expandRefs(evaluators[o.$ref], evaluators, depth + 1);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, expandRefs(x, evaluators, depth + 1)]));
  }
  return v;
}

function refsIn(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$ref === 'string' && !out.includes(o.$ref)) out.push(o.$ref);
    for (const x of Object.values(o)) refsIn(x, out);
  }
  return out;
}
