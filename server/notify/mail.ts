/**
 * One e-mail delivery over SMTP (nodemailer): to one address, subject `[greengate] <summary>`, the
 * notification's text as the body. `Message-ID` is derived from the delivery key, and the key is
 * also sent as `X-Greengate-Delivery`, so a resend after a crash can be recognised. TLS: `implicit`
 * (TLS from the start), `starttls` (the upgrade is required), `none` (plain; loopback only).
 * Credentials are read when a mail is sent. Transports are kept per SMTP settings and closed by `close`.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { EmailConfig } from './channels/email.js';
import { readNotifySecret } from './channels/secret.js';

export const SMTP_TIMEOUT_MS = 15_000; // 15 seconds to connect, greet and send
export const SMTP_CONNECTIONS = 4; // per SMTP server (the sender sends at most 4 mails at once)

export interface MailRequest { email: EmailConfig; to: string; subject: string; text: string; kind: string; deliveryKey: string }

export class Mailer {
  private readonly transports = new Map<string, Transporter>();

  /** onError: a pooled connection failed outside a send (the SMTP server went away); without it, that would crash the process. */
  constructor(private readonly onError: (err: Error) => void = () => undefined) {}

  async send(m: MailRequest): Promise<void> {
    await this.transport(m.email).sendMail({
      from: m.email.from, to: m.to, subject: m.subject, text: m.text,
      messageId: `<${m.deliveryKey}@greengate>`,
      headers: { 'X-Greengate-Delivery': m.deliveryKey, 'X-Greengate-Event': m.kind },
    });
  }

  close(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
  }

  private transport(email: EmailConfig): Transporter {
    const s = email.smtp;
    const auth = s.user && s.password
      ? { user: readNotifySecret('notify.email.smtp.user', s.user), pass: readNotifySecret('notify.email.smtp.password', s.password) } : undefined;
    const key = JSON.stringify([s.host, s.port, s.tls, auth?.user ?? null, auth?.pass ?? null]);
    let t = this.transports.get(key);
    if (!t) {
      t = nodemailer.createTransport({
        pool: true, maxConnections: SMTP_CONNECTIONS, // a burst of mails reuses a few connections
        host: s.host, port: s.port, secure: s.tls === 'implicit', requireTLS: s.tls === 'starttls', ignoreTLS: s.tls === 'none',
        auth, connectionTimeout: SMTP_TIMEOUT_MS, greetingTimeout: SMTP_TIMEOUT_MS, socketTimeout: SMTP_TIMEOUT_MS,
      });
      t.on('error', (err: Error) => this.onError(err));
      this.transports.set(key, t);
    }
    return t;
  }
}
