/**
 * Series selectors as PromQL writes them — `http_requests_total{status=~"5..", job="shop"}` —
 * for both metric sources: rendered back into PromQL for a Prometheus server (with extra
 * matchers, e.g. the canary label), and matched against the samples greengate scrapes itself.
 * Only the selector subset (a metric name and =, !=, =~, !~ matchers) is accepted; regular
 * expressions are anchored, as in Prometheus. `parseSelector` throws GG_CONFIG_INVALID whose message
 * says what is wrong and shows the accepted form.
 */
import { fail } from '../errors.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';
export interface Matcher { label: string; op: MatchOp; value: string }
export interface Selector { name: string; matchers: Matcher[] }

const NAME_RE = /^[A-Za-z_:][A-Za-z0-9_:]*$/;
const MATCHER_RE = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/;
const FORM = 'write a metric name with optional label matchers, e.g. http_requests_total{status=~"5..",job="shop"}';
export const MAX_SELECTOR_LENGTH = 1000;

export function parseSelector(text: string): Selector {
  const s = text.trim();
  if (s.length === 0 || s.length > MAX_SELECTOR_LENGTH) fail('GG_CONFIG_INVALID', `must be 1 to ${MAX_SELECTOR_LENGTH} characters — ${FORM}`);
  const brace = s.indexOf('{');
  const name = brace < 0 ? s : s.slice(0, brace).trim();
  if (!NAME_RE.test(name)) fail('GG_CONFIG_INVALID', `"${name.slice(0, 80)}" is not a metric name — ${FORM}`);
  if (brace < 0) return { name, matchers: [] };
  if (!s.endsWith('}')) fail('GG_CONFIG_INVALID', `the label matchers must end with "}" — ${FORM}`);
  let rest = s.slice(brace + 1, -1);
  const matchers: Matcher[] = [];
  while (rest.trim() !== '') {
    const m = MATCHER_RE.exec(rest);
    if (!m) fail('GG_CONFIG_INVALID', `cannot read the matcher at "${rest.trim().slice(0, 40)}" — ${FORM}`);
    const value = JSON.parse(`"${m[3]}"`) as string;
    if (m[2] === '=~' || m[2] === '!~') {
      try { new RegExp(value); } catch { fail('GG_CONFIG_INVALID', `${m[1]}${m[2]}"${value}": not a regular expression — fix the pattern`); }
    }
    matchers.push({ label: m[1], op: m[2] as MatchOp, value });
    rest = rest.slice(m[0].length);
  }
  return { name, matchers };
}

/** PromQL for the selector, its name suffixed (`_bucket`, `_sum`, `_count`) and more matchers added. */
export function renderSelector(sel: Selector, suffix = '', extra: Matcher[] = []): string {
  const all = [...sel.matchers, ...extra];
  const body = all.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',');
  return `${sel.name}${suffix}${all.length ? `{${body}}` : ''}`;
}

/** Does a series with these labels match every matcher? (A missing label is "".) */
export function matchesLabels(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.every((m) => {
    const v = labels[m.label] ?? '';
    switch (m.op) {
      case '=': return v === m.value;
      case '!=': return v !== m.value;
      case '=~': return new RegExp(`^(?:${m.value})$`).test(v);
      case '!~': return !new RegExp(`^(?:${m.value})$`).test(v);
    }
  });
}
