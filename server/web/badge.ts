/**
 * `GET /badge/:repo/:branch.svg`: a status badge per branch, for READMEs. Who may call: everyone
 * (it says no more than the waterfall does). The status is built from builds, not the tree: each
 * configured builder's newest finished build of the branch by push order, as the tree rule reads it
 * (push builds, cancelled ones skipped; a rebuild of an older commit keeps its push, so it is not the newest);
 * `failed` when any of them failed (or ended in an exception), `passed` when all of them passed
 * (flaky counts as passed); `running` while the branch has no finished build yet but one is under
 * way; `unknown` without builds. A repository not in greengate.yml answers a grey `unknown` badge
 * with 404. Answers are cacheable for BADGE_MAX_AGE_S (with an ETag, so a cache revalidates for a
 * 304) and carry a CSP that forbids scripts: the SVG holds only fixed text.
 */
import { PIPELINE_BUILDER } from '../config/pipeline.js';
import express, { type Response, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { BranchStatus, PageStore } from '../store/pages.js';
import { parseOrThrow, wildcardParam } from './api.js';

export const BADGE_MAX_AGE_S = 60; // 1 minute: a README shows a new result within a minute
export type BadgeStatus = 'passed' | 'failed' | 'running' | 'unknown';

export interface BadgeDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'repos' | 'builds'>;
  pages: Pick<PageStore, 'branchStatus'>;
}

const COLOURS: Record<BadgeStatus, string> = { passed: '#2da44e', failed: '#cf222e', running: '#bf8700', unknown: '#8c959f' };
const LABEL = 'build';
const Branch = z.string().min(1, 'the badge names no branch — use /badge/REPO/BRANCH.svg').max(1000);

export function badgeStatus(s: BranchStatus): BadgeStatus {
  if (s.finished.some((f) => f.result === 'failed' || f.result === 'exception')) return 'failed';
  if (s.finished.length) return 'passed';
  return s.unfinished ? 'running' : 'unknown';
}

/** A flat badge: a grey label and the status on its colour. Widths are estimated at 11px Verdana. */
export function renderBadge(status: BadgeStatus): string {
  const w = (text: string) => Math.round(text.length * 6.6) + 12;
  const lw = w(LABEL);
  const sw = w(status);
  const total = lw + sw;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="20" role="img" aria-label="${LABEL}: ${status}">` +
    `<title>${LABEL}: ${status}</title>` +
    `<clipPath id="r"><rect width="${total}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="#555"/>` +
    `<rect x="${lw}" width="${sw}" height="20" fill="${COLOURS[status]}" data-status="${status}"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">` +
    `<text x="${lw / 2}" y="14">${LABEL}</text><text x="${lw + sw / 2}" y="14">${status}</text></g></svg>`;
}

function sendBadge(res: Response, status: BadgeStatus, httpStatus = 200): void {
  res.status(httpStatus)
    .set('Cache-Control', `public, max-age=${BADGE_MAX_AGE_S}`)
    .set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
    .set('X-Content-Type-Options', 'nosniff')
    .type('image/svg+xml')
    .send(renderBadge(status));
}

export function badgeRouter(deps: BadgeDeps): Router {
  const r = express.Router();
  // Branch names may hold slashes (feature/x): the rest of the path, ending in .svg.
  r.get('/badge/:repo/*branch', (req, res, next) => {
    const path = wildcardParam(req.params.branch);
    if (!path.endsWith('.svg')) return next(); // not a badge: the 404 page
    const branch = parseOrThrow(Branch, path.slice(0, -'.svg'.length), 'badge branch');
    const repo = deps.config.repositories.find((x) => x.name === req.params.repo);
    const row = repo && deps.store.repos.byName(repo.name);
    if (!repo || !row) return sendBadge(res, 'unknown', 404);
    const names = repo.pipeline ? deps.store.builds.buildersAt(row.id, branch, PIPELINE_BUILDER) : repo.builders.map((b) => b.name);
    sendBadge(res, badgeStatus(deps.pages.branchStatus(row.id, branch, names)));
  });
  return r;
}
