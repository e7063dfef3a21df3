/**
 * Admin sessions for the pages. Logging in posts the admin token; the answer sets an HttpOnly,
 * SameSite=Strict cookie `gg_admin` = `<expires>.<nonce>.<hmac>`, signed with a key that lives
 * only in this process (a restart logs everyone out). Each form carries a CSRF token derived
 * from the session (HMAC of the cookie), checked on every POST. A POST without a valid session
 * and token is refused with 403 (GG_NOT_ADMIN, GG_CSRF) and changes nothing.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response, NextFunction } from 'express';
import { tokensEqual } from '../dispatch/gateway.js';
import { fail } from '../errors.js';

export const SESSION_COOKIE = 'gg_admin';
export const SESSION_TTL_MS = 12 * 3600 * 1000; // 12 hours
export const CSRF_FIELD = '_csrf';

export interface SessionDeps {
  /** The admin token in force now (a reload may change it); null disables logging in. */
  adminToken(): string | null;
  /** The API's bearer-token check, accepted on pages too (scripts). */
  isAdmin(req: Request): boolean;
}

export class AdminSessions {
  private readonly key = randomBytes(32);
  constructor(private readonly deps: SessionDeps) {}

  /** True when the admin token is right; a missing adminToken disables logging in. */
  checkToken(token: string): boolean {
    const expected = this.deps.adminToken();
    return !!expected && !!token && tokensEqual(token, expected);
  }

  issue(res: Response, secure: boolean, now = Date.now()): void {
    const body = `${now + SESSION_TTL_MS}.${randomBytes(12).toString('base64url')}`;
    const value = `${body}.${this.mac('session', body)}`;
    res.append('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`);
  }

  clear(res: Response): void {
    res.append('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
  }

  /** The request's valid session cookie, or null. */
  session(req: Request, now = Date.now()): string | null {
    const value = readCookie(req.get('cookie') ?? '', SESSION_COOKIE);
    if (!value) return null;
    const m = /^(\d{1,16})\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m || Number(m[1]) < now || !this.deps.adminToken()) return null;
    return safeEqual(m[3], this.mac('session', `${m[1]}.${m[2]}`)) ? value : null;
  }

  /** Admin through the page session or, for scripts, the API's bearer token. */
  isAdmin(req: Request): boolean {
    return this.session(req) !== null || this.deps.isAdmin(req);
  }

  csrfToken(req: Request): string | null {
    const s = this.session(req);
    return s ? this.mac('csrf', s) : null;
  }

  /** Middleware for page POSTs: a valid session and its CSRF token, else 403. */
  requireAdminForm() {
    return (req: Request, _res: Response, next: NextFunction) => {
      const s = this.session(req);
      const given = typeof req.body?.[CSRF_FIELD] === 'string' ? req.body[CSRF_FIELD] : '';
      if (!s) fail('GG_NOT_ADMIN', 'log in as admin first (/login), then send the form again');
      if (!given || !safeEqual(given, this.mac('csrf', s))) fail('GG_CSRF', 'the form expired or did not come from this site: reload the page and try again');
      next();
    };
  }

  private mac(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\n${value}`).digest('base64url');
  }
}

export function readCookie(header: string, name: string): string | null {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Only same-site paths: "/tree", never "//evil.example" or "https://…". */
export function safeNext(raw: unknown): string {
  return typeof raw === 'string' && /^\/(?![/\\])[^\s]*$/.test(raw) ? raw : '/';
}
