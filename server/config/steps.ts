/**
 * A builder's steps (issue 23 item 1, matrix item 8): the `steps:` key of a builder, its schema,
 * its checks, and `stepsOf(builder)`, the one normalized list every other module reads.
 *
 * Contract:
 * - A step has `name` (unique in its builder) and `run`; every other key a builder has (`setup`,
 *   `cache`, `setupOnHit`, `tests`, `exclude`, `junit`, `unitTargetSeconds`, `runsOn`, `timeout`,
 *   `env`, `maxLogBytes`, `sandbox`) defaults to the builder's value. `needs: [names]` lists the
 *   steps that must pass before it starts (absent: the step before it; `[]`: none, it starts at
 *   once). `artifacts: [globs]` is parsed and kept (issue 23 item 2 uploads them). `matrix:
 *   { VAR: [values] }` runs the step once per combination (cartesian), each with the variables
 *   set; `${VAR}` in a `runsOn` value (written `$${VAR}` in greengate.yml, whose `${VAR}` is the
 *   server's environment) is the combination's value of a matrix variable.
 * - A builder with `steps` has no `run`/`tests` of its own (a config error says so); its parsed
 *   `run` is '' and must not be used: call stepsOf.
 * - A builder without `steps` is one step named after the builder, with needs [] and no matrix:
 *   exactly what it ran before.
 * Problems come back as Found (path and message) for the config's problem reporter.
 */
import { z } from 'zod';
import { LABEL_KEY_RE, LABEL_RULES, LABEL_VALUE_RE, MAX_LABELS } from '../protocol.js';
import type { BuilderConfig } from './config.js';
import type { Found, Path } from './problems.js';
import { builderArtifactsSchema } from './artifacts.js';

export const MAX_STEPS = 50;
export const MAX_MATRIX_COMBINATIONS = 64;
const VAR_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A step as written under `steps:` (every inherited key optional). */
export interface StepInput {
  name: string;
  run: string;
  needs?: string[];
  artifacts?: string[];
  matrix?: Record<string, string[]>;
  [inherited: string]: unknown;
}

/**
 * One step of a builder, ready to run: the builder's settings with the step's own over them.
 * `name` stays the BUILDER's name (durations and caches stay keyed by it); `step` is the row label
 * (`test`, or `test (NODE=20)` for a matrix combination); `stepName` the name it was given.
 */
export interface StepConfig extends BuilderConfig {
  step: string;
  stepName: string;
  /** Names (stepName) of the steps that must all pass first; [] starts at once. */
  needs: string[];
  /** This combination's variables (set in the unit's environment); null without a matrix. */
  matrix: Record<string, string> | null;
  /** Globs of files kept after its units (issue 23 item 2); absent: none. */
  artifacts?: string[];
}

/** Keys of a builder a step may set (its defaults), plus the step's own. */
export const INHERITED_KEYS = ['setup', 'cache', 'setupOnHit', 'tests', 'exclude', 'junit', 'unitTargetSeconds', 'runsOn',
  'timeout', 'env', 'maxLogBytes', 'sandbox'] as const;
export const STEP_KEYS = ['name', 'run', 'needs', 'artifacts', 'matrix', ...INHERITED_KEYS];

const MATRIX_REF_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** A step's runsOn: label values, where `${VAR}` (a matrix variable, checked by checkSteps) stands for part of one. */
const stepRunsOn = z.record(z.string(), z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
  z.string().refine((v) => LABEL_VALUE_RE.test(v.replace(MATRIX_REF_RE, 'x')),
    `must be a label value: ${LABEL_RULES} (or hold \${VAR}, a variable of the step's matrix) — runners offer it with --label key=value`)))
  .superRefine((labels, ctx) => {
    for (const key of Object.keys(labels)) {
      if (!LABEL_KEY_RE.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `is not a label key: ${LABEL_RULES}` });
    }
    if (Object.keys(labels).length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} labels` });
  }).optional();

/** The `steps:` schema, from the builder's own field schemas (config.ts passes its builderShape). */
export function stepsSchema(builderShape: Record<string, z.ZodType>): z.ZodOptional<z.ZodType<StepInput[]>> {
  const inherited: Record<string, z.ZodType> = {};
  for (const key of INHERITED_KEYS) {
    const s = builderShape[key] as z.ZodType & { unwrap?: () => z.ZodType };
    inherited[key] = (s instanceof z.ZodDefault ? (s as unknown as { unwrap(): z.ZodType }).unwrap() : s).optional();
  }
  const step = z.strictObject({
    name: builderShape.name,
    run: z.string().min(1, 'must not be empty — give the shell command this step runs'),
    needs: z.array(z.string(), 'must be a list of step names, e.g. needs: [build] (or [] to start at once)').optional(),
    artifacts: builderArtifactsSchema, // the same rules as a builder's (config/artifacts.ts)
    matrix: z.record(z.string().regex(VAR_RE, 'must be an environment variable name such as NODE'),
      z.array(z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v), z.string()))
        .min(1, 'must list at least one value, e.g. NODE: ["20", "22"]'),
      'must map variable names to lists of values, e.g. matrix: { NODE: ["20", "22"] }').optional(),
    ...inherited,
    runsOn: stepRunsOn,
  });
  return (z.array(step).min(1, 'must list at least one step, e.g. steps: [{ name: build, run: make }]')
    .max(MAX_STEPS, `must list at most ${MAX_STEPS} steps`) as unknown as z.ZodType<StepInput[]>).optional();
}

/** Problems of a builder's steps (at `at`, the builder's path): run/tests beside steps, duplicates, unknown needs, cycles, matrix size. */
export function checkSteps(raw: unknown, at: Path): Found[] {
  const b = raw as { steps?: StepInput[]; run?: unknown; tests?: unknown } | null;
  const found: Found[] = [];
  if (!b || typeof b !== 'object') return found;
  if (b.steps === undefined) {
    if (b.run === undefined) found.push({ path: [...at, 'run'], message: 'missing required key "run" — add it, e.g. run: npm test (or list steps: [{ name: test, run: npm test }])' });
    return found;
  }
  if (!Array.isArray(b.steps)) return found;
  for (const key of ['run', 'tests'] as const) {
    if (b[key] !== undefined && b[key] !== null) {
      found.push({ path: [...at, key], message: `is not allowed beside steps: — move it into a step (steps: [{ name: test, ${key}: ... }])` });
    }
  }
  const steps = b.steps;
  const index = new Map<string, number>();
  steps.forEach((s, i) => {
    if (typeof s?.name !== 'string') return;
    if (index.has(s.name)) {
      found.push({ path: [...at, 'steps', i, 'name'], message: `duplicate step name "${s.name}" (also steps[${index.get(s.name)}]) — step names must be unique within a builder; rename one` });
    } else index.set(s.name, i);
  });
  const needs = steps.map((s, i) => needsOf(s, i, steps));
  steps.forEach((s, i) => {
    (s?.needs ?? []).forEach((n, j) => {
      if (typeof n === 'string' && !index.has(n)) {
        found.push({ path: [...at, 'steps', i, 'needs', j], message: `names no step "${n}" of this builder — use one of: ${[...index.keys()].join(', ')}` });
      }
    });
    for (const [label, value] of Object.entries(s?.runsOn ?? {})) {
      for (const m of typeof value === 'string' ? value.matchAll(MATRIX_REF_RE) : []) {
        if (!Object.hasOwn(s?.matrix ?? {}, m[1])) {
          found.push({ path: [...at, 'steps', i, 'runsOn', label], message: `uses \${${m[1]}}, which is not a variable of this step's matrix — add matrix: { ${m[1]}: [...] } or write the value` });
        }
      }
    }
    const combos = Object.values(s?.matrix ?? {}).reduce((n, v) => n * (Array.isArray(v) ? v.length : 1), 1);
    if (combos > MAX_MATRIX_COMBINATIONS) {
      found.push({ path: [...at, 'steps', i, 'matrix'], message: `makes ${combos} combinations — at most ${MAX_MATRIX_COMBINATIONS}; list fewer values` });
    }
  });
  const cycle = findCycle(steps.map((s) => s?.name), needs);
  if (cycle) {
    found.push({ path: [...at, 'steps', cycle.at, 'needs'], message: `makes a cycle (${cycle.names.join(' → ')}) — a step cannot wait for itself; remove one of these needs` });
  }
  return found;
}

/** Default needs: the step before (none for the first). */
function needsOf(s: StepInput | undefined, i: number, steps: readonly StepInput[]): string[] {
  if (Array.isArray(s?.needs)) return s.needs.filter((n): n is string => typeof n === 'string');
  return i > 0 && typeof steps[i - 1]?.name === 'string' ? [steps[i - 1].name] : [];
}

function findCycle(names: readonly (string | undefined)[], needs: readonly string[][]): { at: number; names: string[] } | null {
  const index = new Map(names.map((n, i) => [n, i] as const));
  const state = names.map(() => 0); // 0 new, 1 on the path, 2 done
  const path: number[] = [];
  const visit = (i: number): { at: number; names: string[] } | null => {
    if (state[i] === 2) return null;
    if (state[i] === 1) {
      const from = path.indexOf(i);
      return { at: i, names: [...path.slice(from), i].map((k) => String(names[k])) };
    }
    state[i] = 1;
    path.push(i);
    for (const n of needs[i]) {
      const j = index.get(n);
      if (j === undefined) continue;
      const c = visit(j);
      if (c) return c;
    }
    path.pop();
    state[i] = 2;
    return null;
  };
  for (let i = 0; i < names.length; i++) {
    const c = visit(i);
    if (c) return c;
  }
  return null;
}

/** The steps a builder runs, matrix expanded, in the order written. A builder without steps is one step. */
export function stepsOf(builder: BuilderConfig): StepConfig[] {
  const steps = (builder as BuilderConfig & { steps?: readonly StepInput[] }).steps;
  if (!steps) return [{ ...builder, step: builder.name, stepName: builder.name, needs: [], matrix: null }];
  const out: StepConfig[] = [];
  steps.forEach((s, i) => {
    const { name, run, needs, artifacts, matrix, ...own } = s;
    const base: StepConfig = { ...withoutSteps(builder), ...definedOnly(own), run, name: builder.name, step: name, stepName: name,
      needs: needs ? [...needs] : i > 0 ? [steps[i - 1].name] : [], matrix: null, ...(artifacts ? { artifacts: [...artifacts] } : {}) };
    for (const combo of combinations(matrix)) {
      if (!combo) { out.push(base); continue; }
      const label = `${name} (${Object.entries(combo).map(([k, v]) => `${k}=${v}`).join(', ')})`;
      const runsOn = base.runsOn && Object.fromEntries(Object.entries(base.runsOn).map(([k, v]) =>
        [k, v.replace(MATRIX_REF_RE, (ref, name: string) => combo[name] ?? ref)]));
      out.push({ ...base, step: label, matrix: combo, ...(runsOn ? { runsOn } : {}) });
    }
  });
  return out;
}

/**
 * The steps named (by stepName) and every step they need, directly or not, in their order: what a
 * culprit search's bisect build runs. No name given (or none known): every step.
 */
export function stepsWithNeeds(steps: readonly StepConfig[], names: readonly string[]): StepConfig[] {
  const keep = new Set(names.filter((n) => steps.some((s) => s.stepName === n)));
  if (keep.size === 0) return [...steps];
  for (let grew = true; grew;) {
    grew = false;
    for (const s of steps) {
      if (!keep.has(s.stepName)) continue;
      for (const n of s.needs) if (!keep.has(n)) { keep.add(n); grew = true; }
    }
  }
  return steps.filter((s) => keep.has(s.stepName));
}

/** The step of a builder labelled `step` (null/undefined: its only step when it has no `steps:`). */
export function stepNamed(builder: BuilderConfig, step: string | null | undefined): StepConfig | undefined {
  const all = stepsOf(builder);
  if (step === null || step === undefined) return all.length === 1 ? all[0] : undefined;
  return all.find((s) => s.step === step);
}

/** Whether a builder was given `steps:` (its builds keep build_steps rows). */
export function hasSteps(builder: BuilderConfig): boolean {
  return Array.isArray((builder as BuilderConfig & { steps?: unknown }).steps);
}

function combinations(matrix: Record<string, string[]> | undefined): (Record<string, string> | null)[] {
  const entries = Object.entries(matrix ?? {});
  if (entries.length === 0) return [null];
  let combos: Record<string, string>[] = [{}];
  for (const [k, values] of entries) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  return combos;
}

function withoutSteps(b: BuilderConfig): BuilderConfig {
  const { steps: _steps, ...rest } = b as BuilderConfig & { steps?: unknown };
  return rest;
}

function definedOnly(o: Record<string, unknown>): Partial<BuilderConfig> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<BuilderConfig>;
}
