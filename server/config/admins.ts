/**
 * Named admins in greengate.yml:
 *
 *   admins:
 *     - { name: ada, token: ${GG_ADA_TOKEN} }           # ${VAR} expands like every value
 *     - { name: bob, tokenFile: /etc/greengate/bob.token }   # relative: to greengate.yml's folder
 *
 * Each admin action (tree close/open, cancel, rebuild, quarantine, autorevert off/on, deploy
 * pause/resume, a page session) is recorded with the name of the admin whose token it carried.
 * The single `adminToken` stays accepted as the unnamed admin, recorded as UNNAMED_ADMIN ("admin").
 *
 * Checked at load (each problem names its key path and the fix): exactly one of token/tokenFile;
 * a token of at least MIN_ADMIN_TOKEN characters (after reading its file, trailing whitespace
 * dropped); a readable tokenFile; names unique (and not "admin" while adminToken is set); tokens
 * unique, not equal to adminToken nor runnerToken. A tokenFile is read at load (start-up or a
 * SIGHUP reload): the parsed config holds the token itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Found } from './problems.js';

export const UNNAMED_ADMIN = 'admin';
export const MIN_ADMIN_TOKEN = 16;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface AdminConfig { name: string; token: string; tokenFile?: string }
/** Who may act as admin now: the named admins, then the unnamed one (adminToken) when set. */
export interface Admin { name: string; token: string; named: boolean }

const SHORT = `must be at least ${MIN_ADMIN_TOKEN} characters — use a long random secret`;
export const adminsSchema = z.array(z.strictObject({
  name: z.string().regex(NAME_RE, 'must start with a letter or digit and use only letters, digits, ".", "_" and "-", at most 63 characters — e.g. the person\'s login'),
  token: z.string().min(MIN_ADMIN_TOKEN, SHORT).optional(),
  tokenFile: z.string().min(1, 'must not be empty — give the path of a file holding the token').optional(),
}).superRefine((a, ctx) => {
  if ((a.token === undefined) === (a.tokenFile === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'needs exactly one of token: ${VAR} or tokenFile: PATH' });
  }
})).max(100, 'at most 100 admins').optional();

type Parsed = { name: string; token?: string; tokenFile?: string };

/** Reads each tokenFile (rewriting `token` in place) and checks the list; returns the problems found. */
export function checkAdmins(c: { admins?: Parsed[]; adminToken: string | null; runnerToken: string }, baseDir: string): Found[] {
  const found: Found[] = [];
  const list = c.admins ?? [];
  list.forEach((a, i) => {
    if (a.tokenFile === undefined) return;
    const file = path.resolve(baseDir, a.tokenFile);
    try {
      a.token = fs.readFileSync(file, 'utf8').trimEnd();
      a.tokenFile = file;
    } catch (err) {
      found.push({ path: ['admins', i, 'tokenFile'], message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}) — ` +
        'create it, or make it readable by the user running greengate' });
      return;
    }
    if (a.token.length < MIN_ADMIN_TOKEN) found.push({ path: ['admins', i, 'tokenFile'], message: `${file} holds a token shorter than ${MIN_ADMIN_TOKEN} characters — use a long random secret` });
  });
  const names = new Map<string, number>();
  const tokens = new Map<string, number>();
  list.forEach((a, i) => {
    const sameName = names.get(a.name);
    if (sameName !== undefined) found.push({ path: ['admins', i, 'name'], message: `duplicate admin name "${a.name}" (also admins[${sameName}]) — each admin needs their own name` });
    else if (a.name === UNNAMED_ADMIN && c.adminToken) found.push({ path: ['admins', i, 'name'], message: `"${UNNAMED_ADMIN}" is the name of adminToken's unnamed admin — choose the person's own name` });
    names.set(a.name, i);
    if (!a.token) return;
    const sameToken = tokens.get(a.token);
    if (sameToken !== undefined) found.push({ path: ['admins', i], message: `has the same token as admins[${sameToken}] — each admin needs their own token, or actions could not be told apart` });
    else if (a.token === c.adminToken) found.push({ path: ['admins', i], message: 'has the same token as adminToken — give this admin their own token' });
    else if (a.token === c.runnerToken) found.push({ path: ['admins', i], message: 'has the same token as runnerToken — give this admin their own token' });
    tokens.set(a.token, i);
  });
  return found;
}

/** Every admin in force: the named ones, then adminToken as the unnamed admin. */
export function adminsOf(c: { admins?: readonly AdminConfig[]; adminToken: string | null }): Admin[] {
  const out: Admin[] = (c.admins ?? []).map((a) => ({ name: a.name, token: a.token, named: true }));
  if (c.adminToken) out.push({ name: UNNAMED_ADMIN, token: c.adminToken, named: false });
  return out;
}
