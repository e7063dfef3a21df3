/**
 * Templates: nunjucks with autoescape on, every template compiled once at start-up from views/
 * at the package root. Filters format times and durations; nothing here marks user text safe.
 * `send` renders a page with the common context and a Server-Timing header (the handler's time).
 */
import nunjucks from 'nunjucks';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Request, Response } from 'express';
import { formatPlain, formatPValue } from '../deploy/evidence.js';

export const VIEWS_DIR = fileURLToPath(new URL('../../../views/', import.meta.url));
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

export type Locals = Record<string, unknown>;

export function createViews(dir = VIEWS_DIR): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dir, { noCache: false, watch: false }), {
    autoescape: true, throwOnUndefined: false, trimBlocks: true, lstripBlocks: true,
  });
  env.addFilter('age', (at: number | null, now: number) => (at ? formatAge(now - at) : ''));
  env.addFilter('dur', (ms: number | null) => (ms === null || ms === undefined ? '' : formatDuration(ms)));
  env.addFilter('short', (sha: string | null) => (sha ?? '').slice(0, 10));
  env.addFilter('iso', (at: number | null) => (at ? new Date(at).toISOString() : ''));
  env.addFilter('clock', (at: number | null) => (at ? new Date(at).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : ''));
  env.addFilter('bytes', (n: number) => formatBytes(n));
  env.addFilter('num', (n: number) => formatPlain(n)); // a measured value for people (deploy evidence)
  env.addFilter('pvalue', (p: number) => formatPValue(p)); // `< 0.001`, never 3.3e-16
  env.addFilter('firstLine', (s: string | null) => (s ?? '').split('\n')[0]);
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.njk'))) env.getTemplate(name, true); // compile now, once
  return env;
}

/** Renders `view` and sends it; Server-Timing tells how long the handler took (queries and rendering). */
export function send(res: Response, env: nunjucks.Environment, view: string, locals: Locals, t0: number, status = 200): void {
  const html = env.render(view, locals);
  res.status(status).set(SECURITY_HEADERS).set('server-timing', `render;dur=${(performance.now() - t0).toFixed(2)}`)
    .type('html').send(html);
}

/** A live region alone, for app.js to swap in. */
export function sendFragment(res: Response, html: string, t0: number): void {
  res.set('cache-control', 'no-store').set('server-timing', `render;dur=${(performance.now() - t0).toFixed(2)}`).type('html').send(html);
}

export function pageLocals(req: Request, extra: Locals): Locals {
  return { now: Date.now(), path: req.path, ...extra };
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
