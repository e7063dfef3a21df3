/**
 * Where the server listens, and whether greengate.yml exposes its tokens. `host:` (and `serve
 * --host`) is an IP address or a host name; absent: 0.0.0.0, every IPv4 interface, as before.
 * Behind a reverse proxy on the same host, 127.0.0.1 keeps the server off the network.
 * inlineTokenWarning: the one start-up line for a greengate.yml that holds a token written out
 * (not `${VAR}`) and that other users may read (group or other read bits, mode & 0o044).
 */
import fs from 'node:fs';
import { isIP } from 'node:net';
import { parse } from 'yaml';
import { z } from 'zod';

export const DEFAULT_HOST = '0.0.0.0';
export const HOST_RULE = 'must be an IP address or a host name to listen on, e.g. 127.0.0.1 (only this host, ' +
  'behind a reverse proxy) or 0.0.0.0 (every interface)';

const HOST_NAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isListenHost(host: string): boolean {
  return isIP(host) !== 0 || HOST_NAME_RE.test(host);
}

export const hostSchema = z.string().refine(isListenHost, HOST_RULE).optional(); // absent: DEFAULT_HOST

/** Whether the host is every interface (then this host reaches the server on 127.0.0.1). */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** A host as it goes into a URL (an IPv6 address in brackets). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

const TOKEN_KEY_RE = /token$/i;

/** The keys of `raw` (the YAML document, before `${VAR}` expansion) holding a token written out. */
export function inlineTokenKeys(raw: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, at: string) => {
    if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${at}[${i}]`));
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const key = at ? `${at}.${k}` : k;
        if (TOKEN_KEY_RE.test(k) && typeof v === 'string' && v !== '' && !v.includes('${')) found.push(key);
        else visit(v, key);
      }
    }
  };
  visit(raw, '');
  return found;
}

/** The warning for `file`, or null when it holds no inline token or only its owner may read it. */
export function inlineTokenWarning(file: string): string | null {
  let mode: number, raw: unknown;
  try {
    mode = fs.statSync(file).mode & 0o777;
    raw = parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null; // loadConfig has already read and validated it; nothing to add here
  }
  if ((mode & 0o044) === 0) return null;
  const keys = inlineTokenKeys(raw);
  if (keys.length === 0) return null;
  return `${file} holds ${keys.join(', ')} written out and other users can read it (mode ${mode.toString(8).padStart(4, '0')}): ` +
    `run chmod 600 ${file} (owned by the server's user), or write each as \${VAR} and set the variable in the service's environment`;
}
