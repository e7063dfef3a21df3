/**
 * Admin sessions for the pages. Logging in posts the admin token; the answer sets an HttpOnly,
 * SameSite=Strict cookie `gg_admin` = a random 256-bit id. The session lives in SQLite
 * (store/sessions.ts: only the id's SHA-256, a tag binding it to the admin token in force, the
 * expiry), so it can be revoked: logging out deletes it, and a session issued under another
 * admin token (a SIGHUP reload or a restart with a new adminToken) no longer counts and is
 * deleted when seen (serve.ts also clears them all on such a reload). A session ends after
 * SESSION_TTL_MS whatever happens. Each form carries a CSRF token derived from the session id,
 * checked on every POST. A POST without a valid session and token is refused with 403
 * (GG_NOT_ADMIN, GG_CSRF) and changes nothing.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response, NextFunction } from 'express';
import { tokensEqual } from '../tokens.js';
import { fail } from '../errors.js';
import type { SessionStore } from '../store/sessions.js';

export const SESSION_COOKIE = 'gg_admin';
export const SESSION_TTL_MS = 12 * 3600 * 1000; // 12 hours
export const CSRF_FIELD = '_csrf';
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url

export interface SessionDeps {
  /** The admin token in force now (a reload may change it); null disables logging in. */
  adminToken(): string | null;
  /** The API's bearer-token check, accepted on pages too (scripts). */
  isAdmin(req: Request): boolean;
  /** Where sessions are kept. */
  sessions: SessionStore;
}

export class AdminSessions {
  constructor(private readonly deps: SessionDeps) {}

  /** True when the admin token is right; a missing adminToken disables logging in. */
  checkToken(token: string): boolean {
    const expected = this.deps.adminToken();
    return !!expected && !!token && tokensEqual(token, expected);
  }

  /** Stores a new session (bound to the admin token in force) and sets its cookie. */
  issue(res: Response, secure: boolean, now = Date.now()): void {
    const token = this.deps.adminToken();
    if (!token) fail('GG_ADMIN_TOKEN', 'admin actions are disabled: set adminToken in greengate.yml');
    const id = randomBytes(32).toString('base64url');
    this.deps.sessions.removeExpired(now);
    this.deps.sessions.add({ idHash: hashOf(id), tokenTag: tagOf(id, token), createdAt: now, expiresAt: now + SESSION_TTL_MS });
    res.append('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`);
  }

  /** Deletes the request's session (whoever holds a copy of the cookie is logged out too) and clears the cookie. */
  revoke(req: Request, res: Response): void {
    const id = cookieId(req);
    if (id) this.deps.sessions.remove(hashOf(id));
    res.append('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
  }

  /** The request's session id when it is stored, unexpired and issued under the admin token in force; else null. */
  session(req: Request, now = Date.now()): string | null {
    const id = cookieId(req);
    const token = this.deps.adminToken();
    if (!id || !token) return null;
    const row = this.deps.sessions.get(hashOf(id));
    if (!row) return null;
    if (row.expiresAt < now || !safeEqual(row.tokenTag, tagOf(id, token))) {
      try {
        this.deps.sessions.remove(row.idHash); // expired, or the admin token changed since
      } catch {
        // a busy or failing database: the session is refused all the same, and deleted next time
      }
      return null;
    }
    return id;
  }

  /** Admin through the page session or, for scripts, the API's bearer token. */
  isAdmin(req: Request): boolean {
    return this.session(req) !== null || this.deps.isAdmin(req);
  }

  csrfToken(req: Request): string | null {
    const s = this.session(req);
    return s ? csrfOf(s) : null;
  }

  /** Middleware for page POSTs: a valid session and its CSRF token, else 403. */
  requireAdminForm() {
    return (req: Request, _res: Response, next: NextFunction) => {
      const s = this.session(req);
      const given = typeof req.body?.[CSRF_FIELD] === 'string' ? req.body[CSRF_FIELD] : '';
      if (!s) fail('GG_NOT_ADMIN', 'log in as admin first (/login), then send the form again');
      if (!given || !safeEqual(given, csrfOf(s))) fail('GG_CSRF', 'the form expired or did not come from this site: reload the page and try again');
      next();
    };
  }
}

function cookieId(req: Request): string | null {
  const value = readCookie(req.get('cookie') ?? '', SESSION_COOKIE);
  return value && SESSION_ID.test(value) ? value : null;
}

const hashOf = (id: string) => createHash('sha256').update(`session\n${id}`).digest('hex');
const tagOf = (id: string, adminToken: string) => createHash('sha256').update(`admin-token\n${id}\n${adminToken}`).digest('hex');
const csrfOf = (id: string) => createHmac('sha256', id).update('csrf').digest('base64url');

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
