/**
 * Looking up a repository or builder of greengate.yml by name: the one place that answers
 * GG_UNKNOWN_REPO (and GG_NO_BUILDER), with one message naming what is configured, and the one
 * place for callers to whom a missing one is no error (a build whose builder left the file).
 */
import type { BuilderConfig, Config, RepositoryConfig } from './config.js';
import { fail, GgError } from '../errors.js';

/** The configured repository `name`, or undefined. */
export function repositoryNamed(config: Pick<Readonly<Config>, 'repositories'>, name: string): RepositoryConfig | undefined {
  return config.repositories.find((r) => r.name === name);
}

/** The configured builder of a build (its repository and builder names), or undefined when either left greengate.yml. */
export function builderNamed(config: Pick<Readonly<Config>, 'repositories'>, build: { repo: string; builder: string }): BuilderConfig | undefined {
  return repositoryNamed(config, build.repo)?.builders.find((b) => b.name === build.builder);
}

/**
 * The builder a build ran with: the one its commit's pipeline file gave (stored with the build,
 * `builderSpec`), else greengate.yml's by name; undefined when neither has it.
 */
export function builderOfBuild(config: Pick<Readonly<Config>, 'repositories'>, build: { repo: string; builder: string; builderSpec?: string | null }): BuilderConfig | undefined {
  return build.builderSpec ? JSON.parse(build.builderSpec) as BuilderConfig : builderNamed(config, build);
}

/** The configured repository `name`; GG_UNKNOWN_REPO when greengate.yml has none by that name. */
export function findRepository(config: Pick<Readonly<Config>, 'repositories'>, name: string): RepositoryConfig {
  const repo = repositoryNamed(config, name);
  if (repo) return repo;
  throw unknownRepository(config, name);
}

/** The repository `name` that serves feature flags (`flags:`); GG_UNKNOWN_REPO or GG_FLAGS_OFF otherwise. */
export function flagsRepository(config: Pick<Readonly<Config>, 'repositories'>, name: string): RepositoryConfig {
  const repo = findRepository(config, name);
  if (!repo.flags) fail('GG_FLAGS_OFF', `repository ${repo.name} serves no feature flags: add flags: { file: flags.json, token: … } to it in greengate.yml`);
  return repo;
}

/** The GG_UNKNOWN_REPO error for `name`, for callers that answer it rather than throw it. */
export function unknownRepository(config: Pick<Readonly<Config>, 'repositories'>, name: string): GgError {
  const known = config.repositories.map((r) => r.name).join(', ') || '(none)';
  return new GgError('GG_UNKNOWN_REPO', `unknown repository "${name.slice(0, 100)}": it is not in greengate.yml (configured: ${known})`);
}

/** The builder `name` of a configured repository; GG_NO_BUILDER when it has none by that name. */
export function findBuilder(repo: RepositoryConfig, name: string): BuilderConfig {
  const builder = repo.builders.find((b) => b.name === name);
  if (builder) return builder;
  return fail('GG_NO_BUILDER', `repository ${repo.name} has no builder "${name.slice(0, 100)}" in greengate.yml; ` +
    `its builders: ${repo.builders.map((b) => b.name).join(', ')}`);
}
