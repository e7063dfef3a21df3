import { expect } from 'chai';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverSecretValues } from '../../../server/dispatch/serverSecrets.js';
import { ensureHookSecret } from '../../../server/gate/hookSecret.js';
import { RUNNER_TOKEN, Repo, tempHome } from '../../helpers.js';
import { shopConfig } from '../shopServer.js';

describe('serverSecretValues (every secret the server holds, for its second redaction)', () => {
  let home: ReturnType<typeof tempHome>;
  afterEach(() => {
    home?.cleanup();
    delete process.env.GG_TEST_HOOK_URL_SECRET;
    delete process.env.GG_TEST_SMTP_SECRET;
  });

  it('lists the tokens, hook secrets, every repository\'s builder secrets and the notification secrets, read now', () => {
    home = tempHome();
    const shop = new Repo(home.dir);
    const vault = new Repo(home.dir, 'vault');
    const hook = ensureHookSecret(shop.bare);
    writeFileSync(join(home.dir, 'deploy_key'), 'deploy-key-value-1\n');
    writeFileSync(join(home.dir, 'vault_key'), 'vault-key-value-2');
    process.env.GG_TEST_HOOK_URL_SECRET = 'webhook-signing-secret-3';
    process.env.GG_TEST_SMTP_SECRET = 'smtp-password-4';
    const config = shopConfig(home.dir, shop, {
      top: { adminToken: 'admin-token-value-5', alertmanagerToken: 'alertmanager-token-6',
        cloneToken: 'clone-token-value-7a', readTokens: ['read-token-value-8b'], admins: [{ name: 'ada', token: 'ada-admin-token-value-9' }],
        notify: { webhooks: [{ url: 'https://hooks.example.com/services/T0/B0/xyz789', secret: { env: 'GG_TEST_HOOK_URL_SECRET' } }],
          email: { from: 'gg@example.com', to: ['ops@example.com'],
            smtp: { host: '127.0.0.1', port: 25, tls: 'none', user: { value: 'mailer' }, password: { env: 'GG_TEST_SMTP_SECRET' } } } } },
      shop: { builders: [{ name: 'unit', run: 'true', secrets: { DEPLOY_KEY: { file: 'deploy_key' } } }] },
      more: [{ name: 'vault', path: vault.bare, builders: [{ name: 'unit', run: 'true', secrets: { VAULT_KEY: { file: 'vault_key' } } }] }],
    });
    const values = serverSecretValues(config);
    expect(values).to.include.members([RUNNER_TOKEN, 'admin-token-value-5', 'alertmanager-token-6', hook, 'deploy-key-value-1\n',
      'vault-key-value-2', 'webhook-signing-secret-3', 'https://hooks.example.com/services/T0/B0/xyz789', 'smtp-password-4',
      'clone-token-value-7a', 'read-token-value-8b', 'ada-admin-token-value-9']);
    expect(values).not.to.include('mailer'); // a user name is no secret

    // A value that cannot be read now is left out; the rest still count.
    rmSync(join(home.dir, 'vault_key'));
    delete process.env.GG_TEST_SMTP_SECRET;
    const now = serverSecretValues(config);
    expect(now).not.to.include('vault-key-value-2');
    expect(now).to.include.members([RUNNER_TOKEN, hook, 'deploy-key-value-1\n']);
  });
});
