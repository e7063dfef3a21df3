/**
 * Admin sessions for the pages. Logging in posts an admin's token (a named admin's from
 * `admins:`, or `adminToken`, the unnamed admin); the answer sets an HttpOnly,
 * SameSite=Strict cookie `gg_admin` = a random 256-bit id. The session lives in SQLite
 * (store/sessions.ts: only the id's SHA-256, a tag binding it to its admin's name and token, the
 * expiry), so it can be revoked: logging out deletes it, and a session whose admin is gone or
 * has another token now (a SIGHUP reload or a restart) no longer counts and is deleted when seen
 * (serve.ts also clears them all when adminToken changes). Which admin a session is, is found
 * from its tag (no name is stored in clear). A session ends after SESSION_TTL_MS whatever
 * happens. Each form carries a CSRF token derived from the session id, checked on every POST;
 * the form's admin is left in `res.locals.admin` (web/admin.ts actorOf). A POST without a valid
 * session and token is refused with 403 (GG_NOT_ADMIN, GG_CSRF) and changes nothing.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response, NextFunction } from 'express';
import { tokensEqual } from '../tokens.js';
import { fail } from '../errors.js';
import type { SessionStore } from '../store/sessions.js';
import type { Admin } from '../config/admins.js';

export const SESSION_COOKIE = 'gg_admin';
export const SESSION_TTL_MS = 12 * 3600 * 1000; // 12 hours
export const CSRF_FIELD = '_csrf';
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url

export interface SessionDeps {
  /** The admins in force now (a reload may change them); none disables logging in. */
  admins(): readonly Admin[];
  /** The API's bearer-token check, accepted on pages too (scripts). */
  bearerAdmin(req: Request): Admin | null;
  /** Where sessions are kept. */
  sessions: SessionStore;
}

export class AdminSessions {
  constructor(private readonly deps: SessionDeps) {}

  /** The admin whose token this is; null when none is (no admin configured disables logging in). */
  checkToken(token: string): Admin | null {
    let found: Admin | null = null;
    for (const a of this.deps.admins()) if (token && tokensEqual(token, a.token) && !found) found = a;
    return found;
  }

  /** Stores a new session (bound to this admin's name and token) and sets its cookie. */
  issue(res: Response, secure: boolean, admin: Admin | null, now = Date.now()): void {
    if (!admin) fail('GG_ADMIN_TOKEN', 'admin actions are disabled: set adminToken or admins: in greengate.yml');
    const id = randomBytes(32).toString('base64url');
    this.deps.sessions.removeExpired(now);
    this.deps.sessions.add({ idHash: hashOf(id), tokenTag: tagOf(id, admin), createdAt: now, expiresAt: now + SESSION_TTL_MS });
    res.append('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`);
  }

  /** Deletes the request's session (whoever holds a copy of the cookie is logged out too) and clears the cookie. */
  revoke(req: Request, res: Response): void {
    const id = cookieId(req);
    if (id) this.deps.sessions.remove(hashOf(id));
    res.append('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
  }

  /** The request's session (id and admin) when it is stored, unexpired and its admin still has that token; else null. */
  session(req: Request, now = Date.now()): { id: string; admin: Admin } | null {
    const id = cookieId(req);
    const admins = this.deps.admins();
    if (!id || admins.length === 0) return null;
    const row = this.deps.sessions.get(hashOf(id));
    if (!row) return null;
    const admin = row.expiresAt < now ? undefined : admins.find((a) => safeEqual(row.tokenTag, tagOf(id, a)));
    if (!admin) {
      try {
        this.deps.sessions.remove(row.idHash); // expired, or its admin is gone or has another token since
      } catch {
        // a busy or failing database: the session is refused all the same, and deleted next time
      }
      return null;
    }
    return { id, admin };
  }

  /** The admin of the page session or, for scripts, of the API's bearer token; null when neither. */
  adminOf(req: Request): Admin | null {
    return this.session(req)?.admin ?? this.deps.bearerAdmin(req);
  }

  /** Admin through the page session or, for scripts, the API's bearer token. */
  isAdmin(req: Request): boolean {
    return this.adminOf(req) !== null;
  }

  csrfToken(req: Request): string | null {
    const s = this.session(req);
    return s ? csrfOf(s.id) : null;
  }

  /** Middleware for page POSTs: a valid session and its CSRF token, else 403. */
  requireAdminForm() {
    return (req: Request, res: Response, next: NextFunction) => {
      const s = this.session(req);
      const given = typeof req.body?.[CSRF_FIELD] === 'string' ? req.body[CSRF_FIELD] : '';
      if (!s) fail('GG_NOT_ADMIN', 'log in as admin first (/login), then send the form again');
      if (!given || !safeEqual(given, csrfOf(s.id))) fail('GG_CSRF', 'the form expired or did not come from this site: reload the page and try again');
      res.locals.admin = s.admin;
      next();
    };
  }
}

function cookieId(req: Request): string | null {
  const value = readCookie(req.get('cookie') ?? '', SESSION_COOKIE);
  return value && SESSION_ID.test(value) ? value : null;
}

const hashOf = (id: string) => createHash('sha256').update(`session\n${id}`).digest('hex');
/** Binds a session to its admin: the unnamed admin's tag is what it was before named admins (sessions survive the upgrade). */
const tagOf = (id: string, a: Admin) => createHash('sha256')
  .update(a.named ? `admin\n${id}\n${a.name}\n${a.token}` : `admin-token\n${id}\n${a.token}`).digest('hex');
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
