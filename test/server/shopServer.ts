/**
 * A real greengate server in this process, on 127.0.0.1 and a free port, logging nothing, for
 * one repository "shop" (the given bare repository) with one builder whose `run` is `true`. Its
 * data lives in HOME/data. For tests that talk to the server itself (sockets, HTTP, git).
 */
import { pino } from 'pino';
import { parseConfig } from '../../server/config/config.js';
import { startServer, type RunningServer } from '../../server/main.js';
import { RUNNER_TOKEN, type Repo } from '../helpers.js';

export function startShopServer(home: string, repo: Repo): Promise<RunningServer> {
  const config = parseConfig(`
runnerToken: ${RUNNER_TOKEN}
data: ./data
repositories:
  - name: shop
    path: ${repo.bare}
    builders: [{ name: unit, run: "true" }]
`, { baseDir: home });
  return startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
}
