/**
 * Tests over HTTP: the quarantine list of a builder and a test's history.
 *
 * - `GET /api/quarantine/:repo/:builder` → `{ repo, builder, tests: [{ test, reason, addedBy,
 *   addedAt, source: "config" | "api" }] }`: the builder's `quarantine` from greengate.yml and
 *   the entries added here. A quarantined test's failures are stored as `quarantined`: reported,
 *   but they do not fail the build.
 * - `POST /api/quarantine/:repo/:builder` (admin), JSON `{ test, reason?, actor? }` → 201 and the
 *   entry. `test` is a test key as results.testKey writes it ("classname name", or the bare name
 *   for a test without a classname); a bare name also matches that name under any classname.
 *   Posting an entry again updates its reason.
 * - `DELETE /api/quarantine/:repo/:builder?test=…` (admin) → `{ removed }`; 404 when the test is
 *   not on the list, 409 when it is quarantined by greengate.yml (remove it there).
 * - `GET /api/tests?repo=&builder=&name=&classname=&file=&limit=` → a test's recent runs, newest
 *   first (status, duration, message, build, commit), with a summary. `name` is the test's name or
 *   its key; `builder`, `classname` and `file` ('' for results without one) narrow it down.
 * Errors answer `{ error: { code, message } }` (see api.ts) and change nothing.
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import type { App } from '../main.js';
import type { BuilderConfig } from '../config/config.js';
import { MAX_HISTORY } from '../store/tests.js';
import { HttpError, parseOrThrow, requireAdmin } from './api.js';

export const MAX_TEST_KEY = 4001; // classname (2000) + " " + name (2000)
const AddEntry = z.strictObject({
  test: z.string().trim().min(1).max(MAX_TEST_KEY),
  reason: z.string().max(4000).optional(),
  actor: z.string().max(200).optional(),
});
const RemoveQuery = z.object({ test: z.string().min(1).max(MAX_TEST_KEY) });
const HistoryQuery = z.object({
  repo: z.string().min(1).max(100),
  builder: z.string().min(1).max(100).optional(),
  name: z.string().min(1).max(MAX_TEST_KEY),
  classname: z.string().max(2000).optional(),
  file: z.string().max(4096).optional(), // '' for results without a file; absent: every file
  limit: z.coerce.number().int().min(1).max(MAX_HISTORY).default(50),
});

export function findBuilder(app: App, repoName: string, builderName: string): { repoId: number; builder: BuilderConfig } {
  const repo = app.config.repositories.find((r) => r.name === repoName);
  const repoId = repo && app.store.repos.byName(repo.name)?.id;
  if (!repo || repoId === undefined) throw new HttpError(404, 'GG_UNKNOWN_REPO', `unknown repository "${repoName}": it is not in greengate.yml`);
  const builder = repo.builders.find((b) => b.name === builderName);
  if (!builder) {
    throw new HttpError(404, 'GG_UNKNOWN_BUILDER', `repository ${repo.name} has no builder "${builderName}"; ` +
      `its builders: ${repo.builders.map((b) => b.name).join(', ')}`);
  }
  return { repoId, builder };
}

export function quarantineRouter(app: App): Router {
  const r = express.Router();

  r.get('/quarantine/:repo/:builder', (req, res) => {
    const { repoId, builder } = findBuilder(app, String(req.params.repo), String(req.params.builder));
    const fromConfig = builder.quarantine.map((test) => ({ test, reason: null, addedBy: null, addedAt: null, source: 'config' as const }));
    const fromApi = app.store.tests.quarantineList(repoId, builder.name)
      .filter((q) => !builder.quarantine.includes(q.test)).map((q) => ({ ...q, source: 'api' as const }));
    res.json({ repo: String(req.params.repo), builder: builder.name, tests: [...fromConfig, ...fromApi] });
  });

  r.post('/quarantine/:repo/:builder', requireAdmin(app), express.json({ limit: '16kb' }), (req, res) => {
    const { repoId, builder } = findBuilder(app, String(req.params.repo), String(req.params.builder));
    const body = parseOrThrow(AddEntry, req.body, 'quarantine entry');
    const entry = { test: body.test, reason: body.reason ?? null, addedBy: body.actor ?? 'admin', addedAt: Date.now() };
    app.store.tests.quarantineAdd({ repoId, builder: builder.name, test: entry.test, reason: entry.reason, addedBy: entry.addedBy, at: entry.addedAt });
    app.log.info({ repo: req.params.repo, builder: builder.name, test: entry.test, by: entry.addedBy }, 'test quarantined');
    res.status(201).json({ ...entry, source: 'api' });
  });

  r.delete('/quarantine/:repo/:builder', requireAdmin(app), (req, res) => {
    const { repoId, builder } = findBuilder(app, String(req.params.repo), String(req.params.builder));
    const { test } = parseOrThrow(RemoveQuery, req.query, 'query');
    if (app.store.tests.quarantineRemove(repoId, builder.name, test)) {
      app.log.info({ repo: req.params.repo, builder: builder.name, test }, 'test released from quarantine');
      res.json({ removed: test });
    } else if (builder.quarantine.includes(test)) {
      throw new HttpError(409, 'GG_QUARANTINE_IN_CONFIG', `"${test}" is quarantined by greengate.yml: remove it from ` +
        `the quarantine list of builder ${builder.name} there`);
    } else {
      throw new HttpError(404, 'GG_NOT_QUARANTINED', `"${test}" is not on the quarantine list of ${req.params.repo}/${builder.name}`);
    }
  });

  r.get('/tests', (req, res) => {
    const q = parseOrThrow(HistoryQuery, req.query, 'query');
    const repoId = app.store.repos.byName(q.repo)?.id;
    if (repoId === undefined) throw new HttpError(404, 'GG_UNKNOWN_REPO', `unknown repository "${q.repo}"`);
    const results = app.store.tests.history({ repoId, builder: q.builder ?? null, name: q.name, classname: q.classname ?? null, limit: q.limit, file: q.file ?? null });
    const count = (status: string) => results.filter((t) => t.status === status).length;
    const timed = results.filter((t) => t.status !== 'skipped');
    res.json({
      repo: q.repo, builder: q.builder ?? null, name: q.name,
      summary: {
        runs: results.length, passed: count('passed'), failed: count('failed') + count('error'), flaky: count('flaky'),
        quarantined: count('quarantined'), skipped: count('skipped'),
        meanMs: timed.length ? Math.round(timed.reduce((s, t) => s + t.durationMs, 0) / timed.length) : null,
      },
      results: results.map((t) => ({
        build: t.buildId, unit: t.unitId, attempt: t.attempt, builder: t.builder, sha: t.sha, branch: t.branch,
        name: t.name, classname: t.classname, file: t.file, status: t.status, durationMs: t.durationMs, message: t.message, at: t.at,
      })),
    });
  });

  return r;
}
