import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { notifyFor } from '../../../server/config/notify.js';
import { tempHome } from '../../helpers.js';

describe('notify: in greengate.yml', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-notifycfg-'); });
  afterEach(() => home.cleanup());

  const parse = (notify: string, env: NodeJS.ProcessEnv = {}, repoNotify = '') => parseConfig(
    `runnerToken: abcdefgh\n${notify}\nrepositories:\n  - name: shop\n    path: /srv/shop.git\n    builders: [{ name: unit, run: npm test }]\n${repoNotify}`,
    { baseDir: home.dir, env, file: 'greengate.yml' });
  const problems = (notify: string, env: NodeJS.ProcessEnv = {}, repoNotify = '') => {
    try { parse(notify, env, repoNotify); } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems.map((p) => `${p.keyPath}: ${p.message}`);
    }
    throw new Error('expected a ConfigError');
  };

  it('reads webhooks and e-mail with secrets from the environment and a file (resolved against the config folder), with defaults', () => {
    writeFileSync(join(home.dir, 'hook.secret'), 'a-webhook-secret-from-a-file\n');
    const cfg = parse(`notify:
  unitWaitSeconds: 600
  webhooks:
    - { url: "https://hooks.example.com/ci", secret: { env: HOOK_SECRET }, events: [tree.closed, tree.reopened] }
    - { url: "http://127.0.0.1:9/x", secret: { file: hook.secret } }
  email:
    from: greengate@example.com
    to: [oncall@example.com]
    smtp: { host: smtp.example.com, user: { env: SMTP_USER }, password: { env: SMTP_PASSWORD } }`,
    { HOOK_SECRET: 'x'.repeat(20), SMTP_USER: 'u', SMTP_PASSWORD: 'p' });
    expect(cfg.notify!.unitWaitSeconds).to.equal(600);
    expect(cfg.notify!.webhooks![0].events).to.deep.equal(['tree.closed', 'tree.reopened']);
    expect(cfg.notify!.webhooks![1].secret).to.deep.equal({ file: join(home.dir, 'hook.secret') });
    expect(cfg.notify!.email).to.deep.include({ blamelist: true });
    expect(cfg.notify!.email!.smtp).to.deep.include({ port: 587, tls: 'starttls' });
  });

  it('lets a repository replace a default key by key', () => {
    const cfg = parse(`notify:\n  unitWaitSeconds: 60\n  webhooks: [{ url: "https://a.example.com/" }]`, {},
      `    notify:\n      webhooks: [{ url: "https://b.example.com/" }]\n`);
    const n = notifyFor(cfg.notify, cfg.repositories[0].notify);
    expect(n.webhooks!.map((w) => w.url)).to.deep.equal(['https://b.example.com/']);
    expect(n.unitWaitSeconds).to.equal(60);
  });

  it('checks e-mail addresses once, at load, by the rule the outbox mails by: a malformed one is refused with its key path, ops@localhost is an address', () => {
    const smtp = 'smtp: { host: smtp.example.com, tls: none }';
    const found = problems(`notify:\n  email: { from: greengate@localhost, to: [ops@localhost, "ops@.example.com"], ${smtp} }`, {},
      `    notify:\n      email: { from: "gg@example.com", to: [a@example.com, "two words@example.com", "ops@"], ${smtp} }\n`);
    expect(found).to.deep.equal([
      'notify.email.to[1]: must be an e-mail address, e.g. oncall@example.com — "ops@.example.com" has an empty part in its domain (a leading, trailing or double dot)',
      'repositories[0].notify.email.to[1]: must be an e-mail address, e.g. oncall@example.com — "two words@example.com" has a space or one of <>",;@ before its @',
      'repositories[0].notify.email.to[2]: must be an e-mail address, e.g. oncall@example.com — "ops@" has no @ with something before and after it',
    ]);
    const cfg = parse(`notify:\n  email: { from: greengate@localhost, to: [ops@localhost, oncall@example.com], ${smtp} }`);
    expect(cfg.notify!.email!.to).to.deep.equal(['ops@localhost', 'oncall@example.com']);
  });

  it('names the key path and the fix for each mistake', () => {
    const found = problems(`notify:
  webhooks:
    - { url: "ftp://x", secret: { env: UNSET_SECRET }, events: [tree.broke] }
  email:
    from: nobody
    smtp: { host: smtp.example.com, tls: sometimes }
  unitWait: 5`);
    const text = found.join('\n');
    expect(text).to.contain('notify.webhooks[0].url: must be an http:// or https:// URL');
    expect(text).to.match(/notify\.webhooks\[0\]\.events\[0\]: must be one of tree\.closed, /);
    expect(text).to.contain('notify.email.from: must be an e-mail address');
    expect(text).to.match(/notify\.email\.smtp\.tls: must be implicit .* starttls .* none/);
    expect(problems(`notify:\n  email: { from: a@example.com, smtp: { host: h, user: { env: U } } }`, { U: 'u' }).join('\n'))
      .to.contain('notify.email.smtp.password: user and password go together');
    expect(text).to.contain('notify.unitWait: unknown key "unitWait" — did you mean "unitWaitSeconds"?');
  });

  it('refuses an unset or short secret at start-up, naming the key, and never asks for it in the YAML', () => {
    expect(problems(`notify:\n  webhooks: [{ url: "https://a.example.com/", secret: { env: HOOK_SECRET } }]`).join('\n'))
      .to.contain('notify.webhooks[0].secret.env: environment variable HOOK_SECRET is not set on the server');
    expect(problems(`notify:\n  webhooks: [{ url: "https://a.example.com/", secret: { env: HOOK_SECRET } }]`, { HOOK_SECRET: 'short' }).join('\n'))
      .to.contain('notify.webhooks[0].secret.env: is shorter than 16 characters');
    expect(problems(`notify:\n  webhooks: [{ url: "https://a.example.com/", secret: "in-the-yaml-literally" }]`).join('\n'))
      .to.contain('notify.webhooks[0].secret: must be { env: NAME }');
    expect(problems(`notify:\n  webhooks: [{ url: "https://a.example.com/", secret: { file: missing.secret } }]`).join('\n'))
      .to.match(/notify\.webhooks\[0\]\.secret\.file: cannot read .*missing\.secret \(ENOENT\)/);
  });
});
