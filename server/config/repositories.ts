/**
 * Looking up a repository or builder of greengate.yml by name: the one place that answers
 * GG_UNKNOWN_REPO (and GG_NO_BUILDER), with one message naming what is configured.
 */
import type { BuilderConfig, Config, RepositoryConfig } from './config.js';
import { fail } from '../errors.js';

/** The configured repository `name`; GG_UNKNOWN_REPO when greengate.yml has none by that name. */
export function findRepository(config: Pick<Readonly<Config>, 'repositories'>, name: string): RepositoryConfig {
  const repo = config.repositories.find((r) => r.name === name);
  if (repo) return repo;
  const known = config.repositories.map((r) => r.name).join(', ') || '(none)';
  return fail('GG_UNKNOWN_REPO', `unknown repository "${name.slice(0, 100)}": it is not in greengate.yml (configured: ${known})`);
}

/** The builder `name` of a configured repository; GG_NO_BUILDER when it has none by that name. */
export function findBuilder(repo: RepositoryConfig, name: string): BuilderConfig {
  const builder = repo.builders.find((b) => b.name === name);
  if (builder) return builder;
  return fail('GG_NO_BUILDER', `repository ${repo.name} has no builder "${name.slice(0, 100)}" in greengate.yml; ` +
    `its builders: ${repo.builders.map((b) => b.name).join(', ')}`);
}
