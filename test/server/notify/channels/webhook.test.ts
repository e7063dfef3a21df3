import { expect } from 'chai';
import { pino } from 'pino';
import { webhookChannel, type WebhookConfig } from '../../../../server/notify/channels/webhook.js';
import { Receiver, WEBHOOK_SECRET } from '../../../notifyFixtures.js';

describe('the webhook channel (notify/channels/webhook.ts)', () => {
  const hooks: WebhookConfig[] = [
    { url: 'https://hooks.example.com/T000/B000/XXXX' },
    { url: 'https://b.example.com/closed', events: ['tree.closed'], secret: { env: 'HOOK' } },
    { url: 'https://hooks.example.com/T000/B000/XXXX', events: ['tree.closed'] },
  ];

  it('targets each URL whose events: take the kind, once', () => {
    expect(webhookChannel.targets(hooks, 'tree.closed', ['ada@example.com'])).to.deep.equal({
      targets: ['https://hooks.example.com/T000/B000/XXXX', 'https://b.example.com/closed'], refused: [] });
    expect(webhookChannel.targets(hooks, 'build.fixed', []).targets).to.deep.equal(['https://hooks.example.com/T000/B000/XXXX']);
  });

  it('shows a URL as its origin only; lists each URL and secret as credentials and each secret to check, at least 16 characters', () => {
    expect(webhookChannel.mask('https://hooks.example.com/T000/B000/XXXX')).to.equal('https://hooks.example.com/…');
    expect(webhookChannel.mask('not a url')).to.equal('…');
    expect(webhookChannel.credentials(hooks)).to.deep.equal([hooks[0].url, undefined, hooks[1].url, { env: 'HOOK' }, hooks[2].url, undefined]);
    expect(webhookChannel.secrets(hooks).map((s) => [s.path.join('.'), s.minLength])).to.deep.equal([['0.secret', 16], ['1.secret', 16], ['2.secret', 16]]);
  });

  it('posts the signed body to the configured URL; fails at once, permanently, for a URL no longer configured', async function () {
    this.timeout(20_000);
    const receiver = await new Receiver().start();
    const sender = webhookChannel.connect(pino({ level: 'silent' }));
    try {
      const live: WebhookConfig[] = [{ url: receiver.url, secret: { value: WEBHOOK_SECRET } }];
      await sender.send({ settings: live, target: receiver.url, kind: 'tree.closed', deliveryKey: 'k-1', payload: { text: 'a <b>' },
        repo: 'shop', branch: 'main', createdAt: 5 });
      const got = receiver.accepted()[0];
      expect(got.signatureOk).to.equal(true);
      expect(got.body).to.deep.equal({ text: 'a &lt;b&gt;', event: 'tree.closed', delivery: 'k-1', repo: 'shop', branch: 'main', at: 5 });
      const err = await sender.send({ settings: live, target: 'https://gone.example.com/', kind: 'tree.closed', deliveryKey: 'k-2',
        payload: { text: 'x' }, repo: null, branch: null, createdAt: 5 }).then(() => null, (e: Error & { permanent?: boolean }) => e);
      expect([err?.message, err?.permanent]).to.deep.equal(['this webhook is no longer in the notify: settings', true]);
    } finally {
      sender.close();
      await receiver.close();
    }
  });
});
