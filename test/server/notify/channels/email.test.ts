import { expect } from 'chai';
import { pino } from 'pino';
import { emailChannel, mailAddressProblem, MAX_MAIL_RECIPIENTS, type EmailConfig } from '../../../../server/notify/channels/email.js';
import { MailServer, SMTP_PASSWORD, SMTP_USER } from '../../../notifyFixtures.js';

const settings = (over: Partial<EmailConfig> = {}): EmailConfig => ({
  from: 'gg@example.com', to: ['oncall@example.com'], blamelist: true, smtp: { host: '127.0.0.1', port: 25, tls: 'none' }, ...over,
});

describe('the e-mail channel (notify/channels/email.ts)', () => {
  it('has one address rule: local@domain, a dotless domain included; spaces, <>",; and empty domain parts refused with the reason', () => {
    for (const ok of ['ops@localhost', 'oncall@example.com', 'a.b+c@mail.example.co.uk', 'Ada@EXAMPLE.com']) expect(mailAddressProblem(ok), ok).to.equal(null);
    expect(mailAddressProblem('ops@')).to.equal('has no @ with something before and after it');
    expect(mailAddressProblem('@example.com')).to.equal('has no @ with something before and after it');
    expect(mailAddressProblem('not an address')).to.equal('has no @ with something before and after it');
    expect(mailAddressProblem('a b@example.com')).to.equal('has a space or one of <>",;@ before its @');
    expect(mailAddressProblem('a@b@example.com')).to.equal('has a space or one of <>",;@ before its @');
    expect(mailAddressProblem('a@exa<mple>.com')).to.equal('has a space or one of <>",;:()[]\\ in its domain');
    expect(mailAddressProblem('a@example..com')).to.equal('has an empty part in its domain (a leading, trailing or double dot)');
    expect(mailAddressProblem('a@example.com.')).to.equal('has an empty part in its domain (a leading, trailing or double dot)');
  });

  it('targets the configured addresses and, with blamelist on, the people concerned — once each, refusing (not dropping) what it will not mail', () => {
    const t = emailChannel.targets(settings(), 'tree.closed', ['ada@example.com', 'ADA@example.com', ' bob@example.com ', null, undefined, 'root@', 'oncall@example.com']);
    expect(t.targets).to.deep.equal(['oncall@example.com', 'ada@example.com', 'bob@example.com']);
    expect(t.refused).to.deep.equal([{ target: 'root@', reason: 'not an e-mail address: it has no @ with something before and after it' }]);
    expect(emailChannel.targets(settings({ blamelist: false }), 'tree.closed', ['ada@example.com']).targets).to.deep.equal(['oncall@example.com']);
    expect(emailChannel.targets(settings({ events: ['tree.reopened'] }), 'tree.closed', ['ada@example.com'])).to.deep.equal({ targets: [], refused: [] });
    const many = Array.from({ length: MAX_MAIL_RECIPIENTS + 2 }, (_, i) => `p${i}@example.com`);
    const capped = emailChannel.targets(settings({ to: [] }), 'build.failed', many);
    expect(capped.targets).to.have.length(MAX_MAIL_RECIPIENTS);
    expect(capped.refused.map((r) => r.target)).to.deep.equal([`p${MAX_MAIL_RECIPIENTS}@example.com`, `p${MAX_MAIL_RECIPIENTS + 1}@example.com`]);
    expect(capped.refused[0].reason).to.equal(`more than ${MAX_MAIL_RECIPIENTS} recipients for one notification`);
  });

  it('masks an address to its first letter and domain; lists the SMTP password as a credential and user/password as secrets to check', () => {
    expect(emailChannel.mask('oncall@example.com')).to.equal('o…@example.com');
    expect(emailChannel.mask('nonsense')).to.equal('…');
    const s = settings({ smtp: { host: 'h', port: 25, tls: 'none', user: { env: 'U' }, password: { env: 'P' } } });
    expect(emailChannel.credentials(s)).to.deep.equal([{ env: 'P' }]);
    expect(emailChannel.secrets(s).map((r) => [r.path.join('.'), r.holder[r.key]])).to.deep.equal([['smtp.user', { env: 'U' }], ['smtp.password', { env: 'P' }]]);
  });

  it('sends one mail over SMTP with the delivery key; fails at once, permanently, when e-mail left the settings', async function () {
    this.timeout(20_000);
    const mail = await new MailServer().start();
    const sender = emailChannel.connect(pino({ level: 'silent' }));
    try {
      const s = settings({ smtp: { host: '127.0.0.1', port: mail.port, tls: 'none', user: { value: SMTP_USER }, password: { value: SMTP_PASSWORD } } });
      await sender.send({ settings: s, target: 'ops@localhost', kind: 'tree.closed', deliveryKey: 'k-1', payload: { text: 'shop/main closed\nmore' },
        repo: 'shop', branch: 'main', createdAt: 1 });
      expect(mail.mails.map((m) => [m.to, m.subject, m.delivery, m.event])).to.deep.equal([[['ops@localhost'], '[greengate] shop/main closed', 'k-1', 'tree.closed']]);
      const err = await sender.send({ settings: null, target: 'ops@localhost', kind: 'tree.closed', deliveryKey: 'k-2', payload: { text: 'x' },
        repo: 'shop', branch: 'main', createdAt: 1 }).then(() => null, (e: Error & { permanent?: boolean }) => e);
      expect([err?.message, err?.permanent]).to.deep.equal(['e-mail is no longer in the notify: settings', true]);
    } finally {
      sender.close();
      await mail.close();
    }
  });
});
