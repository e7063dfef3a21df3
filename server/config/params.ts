/**
 * A builder's declared params (issue 23 item 6):
 *
 *   params:
 *     - { name: TARGET, default: staging, choices: [staging, production] }
 *     - { name: VERBOSE, default: "0" }
 *
 * Each is passed to the builder's units as an environment variable of that name. A push's or a
 * schedule's build gets the defaults; a hand-started build (API, "Build now", `greengate build
 * --param K=V`) may set them. Params are not secrets, but a request sets them: a name must be an
 * environment variable name that is not greengate's (GREENGATE_*), not one a runner passes through
 * (PATH, HOME, …), and not one of the builder's `env:` or `secrets:` names (refused in greengate.yml);
 * a value is at most MAX_PARAM_VALUE characters of PARAM_VALUE_RE; unknown names and values outside
 * `choices` are refused with GG_BAD_PARAM, naming what is allowed.
 */
import { z } from 'zod';
import { ALLOWLISTED_ENV } from './secrets.js';
import { fail } from '../errors.js';

export interface ParamConfig { name: string; default: string; choices?: string[] }

export const MAX_PARAMS = 20;
export const MAX_PARAM_VALUE = 256;
/** Letters, digits and . _ - : / @ + = , (no spaces, quotes, $ or glob characters: safe in an unquoted $VAR). */
export const PARAM_VALUE_RE = /^[A-Za-z0-9._\-:/@+=,]*$/;
const VALUE_RULE = `at most ${MAX_PARAM_VALUE} letters, digits and . _ - : / @ + = , (no spaces, quotes or $)`;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const valueSchema = z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
  z.string(`must be a text value: ${VALUE_RULE}`).max(MAX_PARAM_VALUE, `must be ${VALUE_RULE}`).regex(PARAM_VALUE_RE, `must be ${VALUE_RULE}`));

const paramSchema = z.strictObject({
  name: z.string().regex(NAME_RE, 'must be an environment variable name: letters, digits and "_", not starting with a digit')
    .refine((n) => !/^GREENGATE/i.test(n), 'GREENGATE_* variables are set by greengate — choose another name')
    .refine((n) => !(ALLOWLISTED_ENV as readonly string[]).includes(n), `must not be one of ${ALLOWLISTED_ENV.join(', ')} — a unit gets those from its runner`),
  default: valueSchema,
  choices: z.array(valueSchema).min(1, 'must list at least one value — or remove choices to allow any value').max(100, 'at most 100 values').optional(),
}).superRefine((p, ctx) => {
  if (p.choices && !p.choices.includes(p.default)) {
    ctx.addIssue({ code: 'custom', path: ['default'], message: `"${p.default}" is not one of its choices (${p.choices.join(', ')}) — add it to choices or change the default` });
  }
});

/** `params:` of a builder. */
export const builderParamsSchema = z.array(paramSchema).max(MAX_PARAMS, `at most ${MAX_PARAMS} params`).superRefine((params, ctx) => {
  const seen = new Set<string>();
  params.forEach((p, i) => {
    if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${p.name}" is declared twice — give each param its own name` });
    seen.add(p.name);
  });
}).optional();

/** greengate.yml: a param must not override the builder's `env:` or `secrets:` names. */
export function checkParamNames(b: { params?: ParamConfig[]; env?: string[]; secrets?: Record<string, unknown> }, ctx: z.RefinementCtx): void {
  (b.params ?? []).forEach((p, i) => {
    if (b.env?.includes(p.name)) ctx.addIssue({ code: 'custom', path: ['params', i, 'name'], message: `"${p.name}" is also in env: — a param must not override the builder's environment; rename it` });
    if (b.secrets && p.name in b.secrets) ctx.addIssue({ code: 'custom', path: ['params', i, 'name'], message: `"${p.name}" is also in secrets: — a param must not override a secret; rename it` });
  });
}

/** The declared defaults of a builder's params. */
export function paramDefaults(params: readonly ParamConfig[] | undefined): Record<string, string> {
  return Object.fromEntries((params ?? []).map((p) => [p.name, p.default]));
}

/**
 * Checks params a request asked for against the builders it starts: each name must be declared by
 * at least one of them, each value allowed by every builder declaring it. Returns, per builder
 * name, the values it gets that differ from nothing (its declared names only). GG_BAD_PARAM otherwise.
 */
export function checkRequestedParams(builders: readonly { name: string; params?: ParamConfig[] }[], given: Readonly<Record<string, string>>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>(builders.map((b) => [b.name, {}]));
  for (const [name, value] of Object.entries(given)) {
    const declaring = builders.filter((b) => b.params?.some((p) => p.name === name));
    if (declaring.length === 0) {
      const known = [...new Set(builders.flatMap((b) => (b.params ?? []).map((p) => p.name)))];
      fail('GG_BAD_PARAM', `unknown param "${name.slice(0, 100)}": ${known.length ? `declared params are ${known.join(', ')}` : 'no builder started declares params'} — declare it under the builder's params: in greengate.yml`);
    }
    if (typeof value !== 'string' || value.length > MAX_PARAM_VALUE || !PARAM_VALUE_RE.test(value)) {
      fail('GG_BAD_PARAM', `param ${name} must be ${VALUE_RULE}`);
    }
    for (const b of declaring) {
      const p = b.params!.find((x) => x.name === name)!;
      if (p.choices && !p.choices.includes(value)) {
        fail('GG_BAD_PARAM', `param ${name} of builder ${b.name} must be one of ${p.choices.join(', ')}, not "${value}"`);
      }
      out.get(b.name)![name] = value;
    }
  }
  return out;
}
