/**
 * One repository's flag set evaluated with flagd-core (`@openfeature/flagd-core`), answered in
 * OFREP's shapes (open-feature/protocol service/openapi.yaml). Pure: no I/O; the kill switch is
 * given as a lookup (kills.ts), so a kill is seen by the very next evaluation.
 *
 * Single evaluation, what the stock providers need:
 *   - unknown key → 404 { key, errorCode: FLAG_NOT_FOUND, errorDetails };
 *   - killed: its defaultVariant's value, reason DISABLED, metadata.killed = true; a killed flag
 *     without a defaultVariant, and a flag whose state is DISABLED → 200 { key, reason: DISABLED }
 *     with no value (flagd's answer: the SDK then uses the code default);
 *   - otherwise flagd-core's resolution: 200 { key, value, variant, reason, metadata }, or its error:
 *     PARSE_ERROR / TARGETING_KEY_MISSING / INVALID_CONTEXT → 400, anything else → 500 GENERAL, each
 *     with `key` and `errorCode` (without them the Node provider silently falls back to defaults).
 * A missing targetingKey is accepted (fractional rules then bucket on the flag key alone, as flagd).
 * Bulk: every flag, in key order; flags with no value (disabled, or an error) are left out, as
 * flagd-core's resolveAll does, except that a killed flag with a defaultVariant is in, with that value.
 */
import { FlagdCore } from '@openfeature/flagd-core';
import type { EvaluationContext, Logger as OfLogger } from '@openfeature/core';
import type { FlagSetDefinition } from './definitions.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export interface OfrepSuccess { key: string; value?: JsonValue; variant?: string; reason: string; metadata: Record<string, JsonValue> }
export interface OfrepFailure { key: string; errorCode: string; errorDetails: string }
export interface Evaluation { status: 200 | 400 | 404 | 500; body: OfrepSuccess | OfrepFailure }
/** What kills.ts says about a flag: null while it is not killed. */
export type KillLookup = (key: string) => { actor: string; message: string | null; at: number } | null;

const STATUS_OF: Record<string, 400 | 404 | 500> = {
  FLAG_NOT_FOUND: 404, PARSE_ERROR: 400, TARGETING_KEY_MISSING: 400, INVALID_CONTEXT: 400,
};
const QUIET: OfLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

export class FlagSet {
  private readonly core = new FlagdCore(undefined, QUIET);
  readonly keys: string[];

  /** `sha`: the commit the definition was read at (shown on pages, part of nothing else). */
  constructor(readonly definition: FlagSetDefinition, readonly sha: string | null = null) {
    this.core.setConfigurations(definition.text);
    this.keys = Object.keys(definition.flags).sort();
  }

  has(key: string): boolean {
    return this.core.getFlag(key) !== undefined;
  }

  /** One flag for one context (OFREP single evaluation). */
  evaluate(key: string, context: EvaluationContext, killed: KillLookup): Evaluation {
    const flag = this.core.getFlag(key);
    if (!flag) return fail(404, key, 'FLAG_NOT_FOUND', `flag "${key}" is not in this repository's flags file`);
    const metadata = { ...(flag.metadata as Record<string, JsonValue>) };
    const kill = killed(key);
    if (kill) {
      const dv = flag.defaultVariant;
      const out: OfrepSuccess = { key, reason: 'DISABLED', metadata: { ...metadata, killed: true } };
      if (dv !== undefined && flag.variants.has(dv)) Object.assign(out, { value: flag.variants.get(dv) as JsonValue, variant: dv });
      return { status: 200, body: out };
    }
    if (flag.state === 'DISABLED') return { status: 200, body: { key, reason: 'DISABLED', metadata } };
    let r: ReturnType<typeof flag.evaluate>;
    try {
      r = flag.evaluate(context, QUIET);
    } catch (err) {
      return fail(500, key, 'GENERAL', `flag "${key}" could not be evaluated: ${(err as Error).message}`);
    }
    if (r.errorCode) return fail(STATUS_OF[r.errorCode] ?? 500, key, STATUS_OF[r.errorCode] ? r.errorCode : 'GENERAL', r.errorMessage ?? r.errorCode);
    const out: OfrepSuccess = { key, reason: r.reason ?? 'UNKNOWN', metadata };
    if (r.value !== undefined) Object.assign(out, { value: r.value as JsonValue, variant: r.variant });
    return { status: 200, body: out };
  }

  /** Every flag with a value for one context (OFREP bulk evaluation's `flags`). */
  evaluateAll(context: EvaluationContext, killed: KillLookup): OfrepSuccess[] {
    const out: OfrepSuccess[] = [];
    for (const key of this.keys) {
      const e = this.evaluate(key, context, killed);
      if (e.status === 200 && 'value' in e.body && e.body.value !== undefined) out.push(e.body as OfrepSuccess);
    }
    return out;
  }
}

function fail(status: 400 | 404 | 500, key: string, errorCode: string, errorDetails: string): Evaluation {
  return { status, body: { key, errorCode, errorDetails } };
}
