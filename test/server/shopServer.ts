/**
 * A real greengate server in this process, on 127.0.0.1 and a free port, logging nothing, for
 * one repository "shop" (the given bare repository) with one builder whose `run` is `true`. Its
 * data lives in HOME/data. For tests that talk to the server itself (sockets, HTTP, git).
 * `shopConfig` writes that configuration as YAML and parses it; its fields change the shop
 * repository's entry, add repositories after it, or add top-level keys.
 */
import { pino } from 'pino';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../server/config/config.js';
import { startServer, type RunningServer, type ServeOptions } from '../../server/main.js';
import { RUNNER_TOKEN, type Repo } from '../helpers.js';

export interface ShopFields {
  /** Keys of the shop repository's entry (e.g. gate, builders), over its default one `unit` builder running `true`. */
  shop?: Record<string, unknown>;
  /** Further repository entries after shop. */
  more?: Record<string, unknown>[];
  /** Further top-level keys (e.g. adminToken). */
  top?: Record<string, unknown>;
}

export function shopConfig(home: string, repo: Repo, fields: ShopFields = {}): Config {
  return parseConfig(stringify({
    runnerToken: RUNNER_TOKEN, data: './data', ...fields.top,
    repositories: [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }], ...fields.shop }, ...(fields.more ?? [])],
  }), { baseDir: home });
}

export function startShopServer(home: string, repo: Repo,
  opts: { config?: Config; notify?: ServeOptions['notify'] } = {}): Promise<RunningServer> {
  return startServer({ config: opts.config ?? shopConfig(home, repo), port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }),
    ...(opts.notify ? { notify: opts.notify } : {}) });
}
