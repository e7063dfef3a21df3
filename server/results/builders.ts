/**
 * The builder a build runs, and the step a unit of it runs: the builder its commit's pipeline
 * file gave (builds.builder_spec, parsed once and kept, at most MAX_SPECS), held to the secrets and
 * env names greengate.yml grants it now; else greengate.yml's builder of that name; else a special
 * one (a deploy step, server/deploy/steps.ts). Read-only: it writes nothing.
 */
import type { BuilderConfig, Config, RepositoryConfig } from '../config/config.js';
import type { PipelineGrant } from '../config/pipelineGrants.js';
import type { BuildRow } from '../store/builds.js';
import type { UnitRow } from '../store/units.js';
import { builderNamed, repositoryNamed } from '../config/repositories.js';
import { stepNamed, type StepConfig } from '../config/steps.js';

export type BuilderOfBuild = Pick<BuildRow, 'repo' | 'builder'> & Partial<Pick<BuildRow, 'branch' | 'kind' | 'ref' | 'purpose' | 'builderSpec'>>;
const MAX_SPECS = 500; // parsed builder_spec JSON kept by builderOf

export class BuildBuilders {
  private readonly specs = new Map<string, BuilderConfig>(); // builder_spec JSON → its builder
  constructor(
    private readonly config: Readonly<Config>,
    /** The builder of a build that is not one of `builders:` (a deploy step); undefined: none. */
    private readonly specialBuilder: (build: BuilderOfBuild) => BuilderConfig | undefined,
  ) {}

  repoOf(build: Pick<BuildRow, 'repo'>): RepositoryConfig | undefined {
    return repositoryNamed(this.config, build.repo);
  }

  /** The builder a build runs: the one its commit's pipeline file gave (builds.builder_spec), else greengate.yml's, else a special one. */
  builderOf(build: BuilderOfBuild): BuilderConfig | undefined {
    if (build.builderSpec) {
      let spec = this.specs.get(build.builderSpec);
      if (!spec) {
        spec = JSON.parse(build.builderSpec) as BuilderConfig;
        if (this.specs.size >= MAX_SPECS) this.specs.delete(this.specs.keys().next().value!);
        this.specs.set(build.builderSpec, spec);
      }
      return withGrants(spec, repositoryNamed(this.config, build.repo)?.pipelineGrants?.[spec.name]);
    }
    return builderNamed(this.config, build) ?? this.specialBuilder(build);
  }

  /** What a unit runs: its step of its build's builder (the builder itself, as its one step, without `steps:`). */
  stepOf(build: BuilderOfBuild, unit: Pick<UnitRow, 'step'>): StepConfig | undefined {
    const builder = this.builderOf(build);
    return builder && stepNamed(builder, unit.step);
  }

}

/** A pipeline file's builder with only the secrets and env names greengate.yml grants it now (a reload may have revoked some). */
function withGrants(spec: BuilderConfig, grant: PipelineGrant | undefined): BuilderConfig {
  const secrets = spec.secrets && Object.fromEntries(Object.entries(spec.secrets)
    .filter(([name, source]) => JSON.stringify(grant?.secrets?.[name]) === JSON.stringify(source)));
  const env = spec.env?.filter((name) => grant?.env?.includes(name));
  // A step's own env: names are held to the same grant as its builder's.
  const steps = spec.steps?.map((st) => (Array.isArray(st.env) ? { ...st, env: (st.env as string[]).filter((name) => grant?.env?.includes(name)) } : st));
  const stepsSame = (spec.steps ?? []).every((st, i) => !Array.isArray(st.env) || (steps![i].env as string[]).length === st.env.length);
  if (Object.keys(secrets ?? {}).length === Object.keys(spec.secrets ?? {}).length && (env?.length ?? 0) === (spec.env?.length ?? 0) && stepsSame) return spec;
  return { ...spec, ...(secrets ? { secrets } : {}), ...(env ? { env } : {}), ...(steps ? { steps } : {}) };
}

