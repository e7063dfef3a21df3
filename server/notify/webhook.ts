/**
 * One webhook delivery: POST of a JSON body with a Slack-compatible `text`, signed with the
 * webhook's secret (`text` escaped as Slack asks: pushed code writes some of it). Headers: `X-Greengate-Signature: sha256=<hex>` (HMAC-SHA256 of the exact body
 * bytes; absent without a secret), `X-Greengate-Event: <kind>`, and `X-Greengate-Delivery: <key>` —
 * the same key on every attempt of one delivery, so a receiver can drop a resend (the server may
 * resend after a crash between a success and its record). A 2xx answer is success; anything else,
 * a timeout or a network error throws (the sender retries). Errors never carry the URL.
 * Credentials in the URL (`https://user:pass@host/…`) are sent as `Authorization: Basic`
 * (fetch refuses a URL that holds them); the URL itself is never logged unmasked (urlMask.ts).
 */
import { createHmac } from 'node:crypto';
import { maskUrls } from '../urlMask.js';
import { fail } from '../errors.js';

export const WEBHOOK_TIMEOUT_MS = 10_000; // 10 seconds per attempt
export const SIGNATURE_HEADER = 'x-greengate-signature';
export const DELIVERY_HEADER = 'x-greengate-delivery';
export const EVENT_HEADER = 'x-greengate-event';

export interface WebhookRequest { url: string; secret: string | null; kind: string; deliveryKey: string; body: Record<string, unknown> }

/**
 * Text as Slack reads it: `&`, `<` and `>` escaped, so that words from pushed code (a commit
 * subject saying `<!channel>`) cannot ping a channel or make a link.
 */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `sha256=<hex>` of the body with the secret: what the receiver computes to check the header. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function postWebhook(req: WebhookRequest, timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<void> {
  const body = JSON.stringify(req.body);
  const headers: Record<string, string> = {
    'content-type': 'application/json', 'user-agent': 'greengate-notify', [EVENT_HEADER]: req.kind, [DELIVERY_HEADER]: req.deliveryKey,
  };
  if (req.secret) headers[SIGNATURE_HEADER] = signBody(req.secret, body);
  const url = new URL(req.url);
  if (url.username || url.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    fail('GG_NOTIFY_DELIVERY', e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : `could not connect (${e.cause?.code ?? maskUrls(e.message)})`);
  }
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status > 299) fail('GG_NOTIFY_DELIVERY', `the receiver answered HTTP ${res.status}`);
}
