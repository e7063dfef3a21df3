/**
 * The running configuration, swappable on SIGHUP. `view` is what the server's modules hold: a
 * read-only object that always reads the current frozen Config, so the modules (which read
 * `config.repositories`, `config.adminToken`, … when they act) see a reload without being rebuilt.
 *
 * What a reload may change live: builders (commands, tests, timeouts, quarantine, env, secrets,
 * maxLogBytes, …), a repository's pipeline file and pipelineGrants (a revoked grant also holds for queued builds), a repository's gate list and flags (the token at once; the file at its next push), adminToken, admins, cloneToken/readTokens, retention, notify (top level and per repository). What needs a restart, because
 * it was used once at start-up: port, host, data, baseUrl, runnerToken, the set of repositories and
 * their paths. A reload that changes those keeps their running values and names them.
 */
import type { Config, RepositoryConfig } from './config.js';
import { repositoryNamed } from './repositories.js';

export const RESTART_KEYS = ['port', 'host', 'data', 'baseUrl', 'runnerToken'] as const;

export interface ReloadOutcome {
  /** Keys whose new value now applies, e.g. "adminToken", "repositories[shop].gate". */
  applied: string[];
  /** Changes that need a restart and were not applied. */
  needRestart: string[];
}

export class LiveConfig {
  private current: Readonly<Config>;
  readonly view: Readonly<Config>;

  constructor(initial: Readonly<Config>) {
    this.current = initial;
    const read = () => this.current as unknown as Record<PropertyKey, unknown>;
    this.view = new Proxy({} as Config, {
      get: (_t, key) => read()[key],
      has: (_t, key) => key in read(),
      ownKeys: () => Reflect.ownKeys(read()),
      getOwnPropertyDescriptor: (_t, key) => {
        const d = Reflect.getOwnPropertyDescriptor(read(), key);
        return d && { value: d.value, enumerable: d.enumerable, writable: false, configurable: true };
      },
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
    });
  }

  get config(): Readonly<Config> { return this.current; }

  /** Swaps in `next` (already validated), keeping the running values of what needs a restart. */
  swap(next: Readonly<Config>): ReloadOutcome {
    const old = this.current;
    const applied: string[] = [];
    const needRestart: string[] = [];
    const merged: Record<string, unknown> = { ...next };
    for (const key of RESTART_KEYS) {
      if (!same(old[key], next[key])) needRestart.push(key);
      merged[key] = old[key];
    }
    for (const key of new Set([...Object.keys(old), ...Object.keys(next)]) as Set<keyof Config>) {
      if (key !== 'repositories' && !(RESTART_KEYS as readonly string[]).includes(key) && !same(old[key], next[key])) applied.push(key);
    }
    const repositories: RepositoryConfig[] = [];
    for (const repo of old.repositories) {
      const updated = repositoryNamed(next, repo.name);
      if (!updated) { needRestart.push(`repositories[${repo.name}] (removed)`); repositories.push(repo); continue; }
      if (updated.path !== repo.path) needRestart.push(`repositories[${repo.name}].path`);
      for (const key of ['gate', 'builders', 'notify', 'pipeline', 'pipelineGrants', 'flags'] as const) {
        if (!same(repo[key], updated[key])) applied.push(`repositories[${repo.name}].${key}`);
      }
      repositories.push(Object.freeze({ ...updated, path: repo.path }));
    }
    for (const repo of next.repositories) {
      if (!old.repositories.some((r) => r.name === repo.name)) needRestart.push(`repositories[${repo.name}] (added)`);
    }
    merged.repositories = Object.freeze(repositories);
    this.current = Object.freeze(merged) as unknown as Readonly<Config>;
    return { applied, needRestart };
  }
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
