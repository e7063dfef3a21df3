/**
 * A repository's pipeline file (`pipeline: .greengate.yml` in greengate.yml): its `builders:` in
 * the grammar of greengate.yml's, validated by the same builder schema (config.ts builderSchema),
 * with the same `FILE:LINE:COL: key — fix` problems (one ConfigError, GG_CONFIG_INVALID).
 *
 * The file is pushed code, so unlike greengate.yml:
 *   - `${VAR}` is NOT expanded from the server's environment (the text reaches the unit as written;
 *     its shell sees only the unit's environment);
 *   - each `secrets:` name must be granted to that builder name by greengate.yml
 *     (`pipelineGrants`, config/pipelineGrants.ts) with the same source; the value is always read
 *     from the grant, so a pipeline can never point a secret at another variable or file;
 *   - each `env:` name must be granted; each `sandbox` readOnly/writable path must be granted;
 *     a grant's `network: false` wins.
 * Pure: text in, frozen builders out; reading the file at a commit is changes/pipelines.ts.
 */
import { z } from 'zod';
import { builderSchema, BUILDER_KEYS_AT, type BuilderConfig } from './config.js';
import { describeIssue, readYaml, type Found, type Path } from './problems.js';
import type { PipelineGrant } from './pipelineGrants.js';
import { checkSteps } from './steps.js';

/** The builder name of a build that could not run because its pipeline file is missing or invalid ("." first: no configured builder has it). */
export const PIPELINE_BUILDER = '.pipeline';

const pipelineSchema = z.strictObject({
  builders: z.array(builderSchema).min(1, 'must list at least one builder, e.g. builders: [{ name: unit, run: npm test }]'),
});
const KEYS_AT: Record<string, string[]> = { '': ['builders'],
  ...Object.fromEntries(Object.entries(BUILDER_KEYS_AT).map(([k, v]) => [k === '' ? 'builders' : `builders.${k}`, v])) };

/** The builders of a pipeline file's text; `file` names it in every problem (its path in the repository). */
export function parsePipeline(text: string, file: string, grants: Readonly<Record<string, PipelineGrant>> = {}): readonly BuilderConfig[] {
  const { raw, fail } = readYaml(text, file);
  const result = pipelineSchema.safeParse(raw);
  const stepProblems = ((raw as { builders?: unknown }).builders instanceof Array ? (raw as { builders: unknown[] }).builders : [])
    .flatMap((b, i) => checkSteps(b, ['builders', i])); // duplicate step names, unknown needs, cycles (as in greengate.yml)
  if (!result.success) return fail([...result.error.issues.flatMap((issue) => describeIssue(issue, raw, KEYS_AT)), ...stepProblems]);
  const found: Found[] = [...stepProblems];
  const seen = new Map<string, number>();
  const builders = result.data.builders.map((b, i) => {
    const first = seen.get(b.name);
    if (first !== undefined) {
      found.push({ path: ['builders', i, 'name'], message: `duplicate builder name "${b.name}" (also builders[${first}]) — builder names must be unique; rename one` });
    }
    seen.set(b.name, i);
    if (b.schedule) {
      found.push({ path: ['builders', i, 'schedule'], message: 'is not read from a pipeline file (the server would have to read every branch head to find it) — ' +
        'ask the admin to build this branch on a schedule from greengate.yml, or start builds with `greengate build`' });
    }
    return applyGrant(b as BuilderConfig, grants[b.name], ['builders', i], found);
  });
  if (found.length > 0) fail(found);
  return deepFreeze(builders);
}

/** The builder with only what its grant allows; every thing asked for and not granted is a problem in `found`. */
function applyGrant(b: BuilderConfig, grant: PipelineGrant | undefined, at: Path, found: Found[]): BuilderConfig {
  const notGranted = `greengate.yml grants builder "${b.name}"`;
  const out: BuilderConfig = { ...b };
  if (b.secrets) {
    const secrets: Record<string, NonNullable<BuilderConfig['secrets']>[string]> = {};
    for (const [name, source] of Object.entries(b.secrets)) {
      const granted = grant?.secrets?.[name];
      if (!granted) {
        found.push({ path: [...at, 'secrets', name], message: `secret ${name} is not granted: ${notGranted} ${grantedList(Object.keys(grant?.secrets ?? {}))} — ` +
          `ask the server's admin to add it under pipelineGrants: { ${b.name}: { secrets: { ${name}: … } } } in greengate.yml, or remove it` });
      } else if (!sameSource(source, granted)) {
        found.push({ path: [...at, 'secrets', name], message: `secret ${name} is granted from ${describeSource(granted)} in greengate.yml, not from ${describeSource(source)} — ` +
          `write ${name}: ${describeSource(granted)}` });
      } else {
        secrets[name] = granted;
      }
    }
    out.secrets = secrets;
  }
  Object.assign(out, openOnly(b, grant, at, found, notGranted));
  // Each step may set env: and sandbox: of its own: the same grants hold for them (a step opens no more than its builder may).
  if (b.steps) out.steps = b.steps.map((st, j) => ({ ...st, ...openOnly(st as OpenPart, grant, [...at, 'steps', j], found, notGranted) }));
  return out;
}

interface OpenPart { env?: string[]; sandbox?: BuilderConfig['sandbox'] }
/** The env names and sandbox paths of a builder or one of its steps, checked against its grant; `network: false` of the grant wins. */
function openOnly(b: OpenPart, grant: PipelineGrant | undefined, at: Path, found: Found[], notGranted: string): OpenPart {
  const builder = notGranted.split('"')[1];
  for (const name of b.env ?? []) {
    if (!grant?.env?.includes(name)) {
      found.push({ path: [...at, 'env'], message: `runner variable ${name} is not granted: ${notGranted} env ${grantedList(grant?.env ?? [])} — ` +
        `ask the server's admin to add it under pipelineGrants: { ${builder}: { env: [${name}] } } in greengate.yml, or remove it` });
    }
  }
  if (b.sandbox) {
    for (const key of ['readOnly', 'writable'] as const) {
      for (const p of b.sandbox[key]) {
        if (!grant?.sandbox?.[key].includes(p)) {
          found.push({ path: [...at, 'sandbox', key], message: `${p} is not granted: ${notGranted} sandbox.${key} ${grantedList(grant?.sandbox?.[key] ?? [])} — ` +
            `a pipeline file cannot open more of the runner than greengate.yml allows; ask the admin to grant it or remove it` });
        }
      }
    }
  }
  if (grant?.sandbox?.network === false) return { sandbox: { network: false, readOnly: [...(b.sandbox?.readOnly ?? [])], writable: [...(b.sandbox?.writable ?? [])] } };
  return {};
}

function grantedList(names: readonly string[]): string {
  return names.length === 0 ? 'nothing' : `only ${names.join(', ')}`;
}
function sameSource(a: object, b: object): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
function describeSource(s: object): string {
  return 'env' in s ? `{ env: ${String(s.env)} }` : `{ file: ${String((s as { file: string }).file)} }`;
}
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
