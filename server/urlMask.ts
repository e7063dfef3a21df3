/**
 * URLs as logs and pages may show them: credentials (`user:pass@`), query values and fragment
 * values replaced by `***`, the scheme, host, port and path kept (`https://***@hooks.example.com/ci?token=***`).
 * A webhook URL in greengate.yml often carries its secret in one of those places.
 *
 * `maskUrls` rewrites every URL in a text (a log line, an error message); `maskingStream` puts
 * it in front of a log destination, so no log line of the server carries a credential,
 * whoever logged it and in whatever field. Masking is idempotent.
 */

/** A URL with an authority, up to the first character that ends it in text, JSON or HTML. */
const URL_RE = /\b([a-z][a-z0-9+.-]{0,30}:\/\/)([^\s"'<>\\`]+)/gi;
export const MASK = '***';

/** `text` with the credentials and query and fragment values of every URL in it masked. */
export function maskUrls(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_RE, (_m, scheme: string, rest: string) => scheme + maskRest(rest));
}

function maskRest(rest: string): string {
  const end = rest.search(/[/?#]/);
  let authority = end < 0 ? rest : rest.slice(0, end);
  let tail = end < 0 ? '' : rest.slice(end);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = `${MASK}@${authority.slice(at + 1)}`;
  const hash = tail.indexOf('#');
  const fragment = hash < 0 ? '' : tail.slice(hash + 1);
  if (hash >= 0) tail = tail.slice(0, hash);
  const q = tail.indexOf('?');
  if (q >= 0) tail = `${tail.slice(0, q)}?${maskParams(tail.slice(q + 1))}`;
  return authority + tail + (hash >= 0 ? `#${maskParams(fragment)}` : '');
}

/** `a=1&b=2` → `a=***&b=***`; a bare value (`?abc`) is masked whole. */
function maskParams(params: string): string {
  if (params === '') return params;
  return params.split(/([&;])/).map((part) => {
    if (part === '&' || part === ';' || part === '') return part;
    const eq = part.indexOf('=');
    return eq < 0 ? MASK : `${part.slice(0, eq)}=${MASK}`;
  }).join('');
}

/** A log destination that masks URLs in each line before `dest` gets it. */
export function maskingStream(dest: { write(line: string): unknown }): { write(line: string): boolean } {
  return { write: (line: string) => { dest.write(maskUrls(line)); return true; } };
}
