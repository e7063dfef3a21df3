/**
 * The other ends of the notification channels, real and in the test's process: an HTTP receiver
 * that checks each request's HMAC-SHA256 signature (and can refuse the first attempts), and an
 * SMTP server (smtp-server) that keeps every mail it accepted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { ServerProcess, writeConfig } from './helpers.js';
import type { NotificationKind, NotificationPayloads } from '../server/notify/kinds.js';

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
export const SMTP_USER = 'mailer';
export const SMTP_PASSWORD = 'smtp-password-42';

export interface Received {
  at: number; event: string; delivery: string; signatureOk: boolean; status: number; body: any;
  /** The Authorization header sent (credentials of the webhook URL), '' when none. */
  authorization: string;
}

export class Receiver {
  readonly requests: Received[] = [];
  /** Answer 500 to this many more requests (then 200). */
  failNext = 0;
  /** Only requests of this event kind count for failNext (absent: any). */
  failOnly: string | null = null;
  /** Answer 503 to everything while true. */
  down = false;
  url = '';
  private server!: Server;
  constructor(readonly secret = WEBHOOK_SECRET) {}

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const want = Buffer.from(`sha256=${createHmac('sha256', this.secret).update(raw).digest('hex')}`);
        const got = Buffer.from(String(req.headers['x-greengate-signature'] ?? ''));
        const signatureOk = got.length === want.length && timingSafeEqual(got, want);
        let status = 200;
        if (!signatureOk) status = 401;
        else if (this.down) status = 503;
        else if (this.failNext > 0 && (this.failOnly === null || this.failOnly === req.headers['x-greengate-event'])) { this.failNext--; status = 500; }
        let body: any = null;
        try { body = JSON.parse(raw.toString('utf8')); } catch { /* kept as null */ }
        this.requests.push({ at: Date.now(), event: String(req.headers['x-greengate-event'] ?? ''),
          delivery: String(req.headers['x-greengate-delivery'] ?? ''), signatureOk, status, body,
          authorization: String(req.headers.authorization ?? '') });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  /** Deliveries accepted (answered 200), by event kind. */
  accepted(event?: string): Received[] {
    return this.requests.filter((r) => r.status === 200 && (event === undefined || r.event === event));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

export interface Mail { at: number; from: string; to: string[]; raw: string; subject: string; delivery: string; event: string }

export class MailServer {
  readonly mails: Mail[] = [];
  port = 0;
  private server!: SMTPServer;

  async start(): Promise<this> {
    this.server = new SMTPServer({
      secure: false, disabledCommands: ['STARTTLS'], allowInsecureAuth: true, authMethods: ['PLAIN', 'LOGIN'], logger: false,
      onAuth: (auth, _session, cb) => (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD
        ? cb(null, { user: auth.username }) : cb(new Error('invalid credentials'))),
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' '); // unfolded header lines
          const header = (name: string) => decodeWords(new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1]?.trim() ?? '');
          this.mails.push({ at: Date.now(), from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address), raw, subject: header('Subject'),
            delivery: header('X-Greengate-Delivery'), event: header('X-Greengate-Event') });
          cb();
        });
      },
    });
    this.server.on('error', () => undefined); // a client killed mid-connection (the SIGKILL test) resets its socket
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  to(address: string, event?: string): Mail[] {
    return this.mails.filter((m) => m.to.includes(address) && (event === undefined || m.event === event));
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= and =?UTF-8?B?…?=) decoded, as a mail reader shows them. */
function decodeWords(value: string): string {
  return value.replace(/=\?utf-8\?([qb])\?([^?]*)\?=\s*(?==\?)?/gi, (_m, enc: string, text: string) => enc.toLowerCase() === 'b'
    ? Buffer.from(text, 'base64').toString('utf8')
    : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

/** A `notify:` block pointing at a receiver and a mail server; secrets from the server's environment. */
export function notifyBlock(receiver: Receiver, mail: MailServer | null, events?: string[]): Record<string, unknown> {
  return {
    webhooks: [{ url: receiver.url, secret: { env: 'GG_TEST_WEBHOOK_SECRET' }, ...(events ? { events } : {}) }],
    ...(mail ? { email: {
      from: 'greengate@example.com', to: ['oncall@example.com'], ...(events ? { events } : {}),
      smtp: { host: '127.0.0.1', port: mail.port, tls: 'none', user: { env: 'GG_TEST_SMTP_USER' }, password: { env: 'GG_TEST_SMTP_PASSWORD' } },
    } } : {}),
  };
}

export const NOTIFY_ENV = { GG_TEST_WEBHOOK_SECRET: WEBHOOK_SECRET, GG_TEST_SMTP_USER: SMTP_USER, GG_TEST_SMTP_PASSWORD: SMTP_PASSWORD };

/** A `greengate serve` of these repositories (writeConfig in HOME) telling `receiver` and `mail` of `events` (absent: every kind), with NOTIFY_ENV. */
export async function startNotifyingServer(home: string, repositories: Parameters<typeof writeConfig>[1], receiver: Receiver,
  mail: MailServer, events?: string[]): Promise<ServerProcess> {
  const server = new ServerProcess(writeConfig(home, repositories, { notify: notifyBlock(receiver, mail, events) }));
  server.env = NOTIFY_ENV;
  return server.start();
}

/** A payload of each kind with every field its type asks for (what the producers fill in), for tests that enqueue by hand. */
export const SAMPLE_PAYLOADS: { [K in NotificationKind]: NotificationPayloads[K] } = {
  'tree.closed': { text: 'shop/main closed', repo: 'shop', branch: 'main', automatic: true, actor: null, treeEvent: 1, link: 'http://ci/tree' },
  'tree.reopened': { text: 'shop/main reopened', repo: 'shop', branch: 'main', automatic: true, actor: null, treeEvent: 2, link: 'http://ci/tree' },
  'build.failed': { text: 'shop/main: unit build 7 failed', repo: 'shop', branch: 'main', builder: 'unit', link: 'http://ci/builds/7' },
  'build.fixed': { text: 'shop/main: unit build 8 fixed', repo: 'shop', branch: 'main', builder: 'unit', link: 'http://ci/builds/8' },
  'runner.lost': { text: 'runner r1 lost', runner: { id: 1, name: 'r1' }, reason: 'gone', units: [], link: 'http://ci/runners' },
  'unit.waiting': { text: 'units wait', repo: 'shop', branch: 'main', builder: 'unit', units: 1, waitedSeconds: 700, link: 'http://ci/builds/7' },
  'revert.made': { text: 'reverted', repo: 'shop', branch: 'main', build: 7, culprit: 'a'.repeat(40), author: null, subject: null,
    url: 'http://ci/builds/7', revert: 'b'.repeat(40) },
  'revert.refused': { text: 'not reverted', repo: 'shop', branch: 'main', build: 7, culprit: 'a'.repeat(40), author: null, subject: null,
    url: 'http://ci/builds/7', reason: 'the branch moved on' },
  'deploy.rolledBack': { text: 'rolled back', deploy: 1, repo: 'shop', branch: 'main', sha: 'a'.repeat(40), commits: [], reason: null,
    url: 'http://ci/deploys/1', stages: [] },
  'deploy.failed': { text: 'failed', deploy: 1, repo: 'shop', branch: 'main', sha: 'a'.repeat(40), commits: [], reason: null, url: 'http://ci/deploys/1', stages: [] },
  'deploy.held': { text: 'held', deploy: 1, repo: 'shop', branch: 'main', sha: 'a'.repeat(40), reason: 'no data', url: 'http://ci/deploys/1' },
  'culprit.found': { text: 'found', repo: 'shop', branch: 'main', builder: 'unit', build: 7, sha: 'a'.repeat(40), confirmed: true, confidence: 0.99,
    outcome: 'confirmed', author: null, subject: null, builds: [] },
  'culprit.notFound': { text: 'not found', repo: 'shop', branch: 'main', builder: 'unit', build: 7, sha: null, confirmed: false, confidence: null,
    outcome: 'gave up', author: null, subject: null, builds: [] },
  'flag.killed': { text: 'shop: feature flag new-cart killed by ada', repo: 'shop', key: 'new-cart', actor: 'ada', message: 'errors up', link: 'http://ci/flags/shop/new-cart' },
  'flag.restored': { text: 'shop: feature flag new-cart restored by ada', repo: 'shop', key: 'new-cart', actor: 'ada', message: null, link: 'http://ci/flags/shop/new-cart' },
  'queue.ejected': { text: 'shop/main: queued change 3 was ejected', repo: 'shop', branch: 'main', change: 3, commit: 'c'.repeat(40), pusher: 'ada',
    state: 'ejected', reason: 'its candidate failed: failing tests: cart total', link: 'http://ci/queue/shop/main' },
};

/** A payload of `kind` saying `text` (the kind's sample with `extra` over it). */
export function samplePayload<K extends NotificationKind>(kind: K, text: string, extra: Record<string, unknown> = {}): NotificationPayloads[K] {
  return { ...SAMPLE_PAYLOADS[kind], ...extra, text };
}
