/**
 * `greengate serve`: loads greengate.yml (repository paths checked), starts the server with a
 * LiveConfig view, starts retention, and handles signals: SIGTERM/SIGINT stop cleanly, SIGHUP
 * reloads the file. A reload is validated first; a bad file keeps the running configuration and
 * says why on stderr and in the log. What a reload can change is in config/live.ts. At start-up,
 * one warning when the file holds tokens written out and other users can read it (config/listen.ts).
 */
import { resolve } from 'node:path';
import { loadConfig, type Config } from '../config/config.js';
import { LiveConfig } from '../config/live.js';
import { startServer, type RunningServer } from '../main.js';
import type { Logger } from 'pino';
import { maskUrls } from '../urlMask.js';
import { Retention } from '../retention.js';
import { onSignals } from './lifetime.js';
import { fail } from '../errors.js';
import { inlineTokenWarning } from '../config/listen.js';

export interface ServeCommand { file: string; port?: number; host?: string; data?: string }

export async function runServe(cmd: ServeCommand): Promise<void> {
  const withFlags = (c: Readonly<Config>): Readonly<Config> =>
    Object.freeze({ ...c, data: cmd.data ? resolve(cmd.data) : c.data, port: cmd.port ?? c.port, host: cmd.host ?? c.host });
  const live = new LiveConfig(withFlags(loadConfig(cmd.file, undefined, { checkPaths: true })));
  const data = live.config.data;
  const server = await startServer({ config: live.view, port: live.config.port, host: live.config.host }).catch(async (err) => {
    const { storageFaultOf } = await import('../store/health.js');
    const { refineFault } = await import('../storageHealth.js');
    const fault = refineFault(storageFaultOf(err), data);
    if (!fault) throw err;
    fail(fault.kind === 'full' ? 'GG_STORAGE_FULL' : 'GG_STORAGE_IO', `cannot open the database in ${data} (${fault.sqliteCode}): `
      + (fault.kind === 'full' ? 'its disk is full; free space on it and start again' : 'its disk failed or the file is read-only; check them and start again'));
  });
  const { installProcessGuard } = await import('../storageHealth.js');
  const { log } = server;
  installProcessGuard(server.health, log);
  const exposed = inlineTokenWarning(cmd.file);
  if (exposed) log.warn({ file: cmd.file }, exposed);
  const retention = new Retention(server.store, live.view, log);
  retention.start();
  process.stdout.write(`greengate serving ${server.baseUrl} (data in ${data})\n`);
  onSignals(async () => {
    retention.stop();
    await server.close();
  });
  process.on('SIGHUP', () => {
    const say = (line: string) => process.stderr.write(`greengate: ${maskUrls(line)}\n`);
    let next: Readonly<Config>;
    try {
      next = withFlags(loadConfig(cmd.file, undefined, { checkPaths: true }));
    } catch (err) {
      say(`SIGHUP: ${cmd.file} not reloaded, the running configuration stays:\n${(err as Error).message}`);
      log.error({ err: (err as Error).message }, 'configuration not reloaded: the file does not validate');
      return;
    }
    const outcome = live.swap(next);
    say(`SIGHUP: reloaded ${cmd.file}: ${outcome.applied.length ? `applied ${outcome.applied.join(', ')}` : 'no live change'}` +
      (outcome.needRestart.length ? `; needs a restart, not applied: ${outcome.needRestart.join(', ')}` : ''));
    log.info(outcome, 'configuration reloaded');
    if (outcome.applied.includes('adminToken')) revokeSessions(server, log);
    retention.runNow();
  });
}

/** A new admin token ends every admin page session (sessions also check their token on each use). */
function revokeSessions(server: RunningServer, log: Logger): void {
  try {
    log.warn({ sessions: server.store.sessions.removeAll() }, 'admin token changed: every admin session logged out');
  } catch (err) {
    log.error({ err }, 'admin token changed, but the sessions could not be deleted; each is refused when used');
  }
}
