/**
 * Every secret value the server holds, for its second redaction of what units report (the log
 * and every string of `finished`, logGuard.ts): a unit may have read one it was never given (the
 * runner's environment, a file), so all of them are redacted from every unit, not only the
 * unit's own builder's. A notification channel's are what its plug-in lists as `credentials`.
 *
 * The values: the runner, admin (adminToken and every named admin's), clone (cloneToken, readTokens) and
 * Alertmanager tokens; each repository's hook secret (the server's copy and the repository's file);
 * every builder's secrets, of every repository; each webhook's secret and URL (a
 * Slack-style URL is a credential) and the SMTP password, top-level and per repository. Read from
 * the current configuration on each call (a reload applies); a value that cannot be read now is
 * skipped (nothing of it can be in a unit's report either).
 */
import { readTokensOf, type Config } from '../config/config.js';
import { readSecret } from '../config/secrets.js';
import { readNotifySecret, type NotifyConfig } from '../config/notify.js';
import { CHANNELS, settingsOf } from '../notify/channels/index.js';
import { readHookSecret, readServerSecret } from '../gate/hookSecret.js';

export function serverSecretValues(config: Readonly<Config>): string[] {
  const values: string[] = [];
  const add = (read: () => string | null | undefined) => {
    try {
      const v = read();
      if (v) values.push(v);
    } catch {
      // unreadable now: see the contract
    }
  };
  add(() => config.runnerToken);
  add(() => config.adminToken);
  for (const a of config.admins ?? []) add(() => a.token);
  add(() => config.alertmanagerToken);
  for (const t of readTokensOf(config)) add(() => t);
  const notify = (n: NotifyConfig | undefined) => {
    for (const c of CHANNELS) {
      const settings = n && settingsOf(c, n);
      if (settings === undefined) continue;
      for (const v of c.credentials(settings)) if (v) add(() => (typeof v === 'string' ? v : readNotifySecret('notify', v)));
    }
  };
  notify(config.notify);
  for (const repo of config.repositories) {
    add(() => readHookSecret(repo.path));
    add(() => readServerSecret(config.data, repo.name));
    notify(repo.notify);
    for (const b of repo.builders) for (const [name, source] of Object.entries(b.secrets ?? {})) add(() => readSecret(name, source));
    for (const g of Object.values(repo.pipelineGrants ?? {})) for (const [name, source] of Object.entries(g.secrets ?? {})) add(() => readSecret(name, source));
  }
  return values;
}
