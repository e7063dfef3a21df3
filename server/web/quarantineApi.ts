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
 * Who may call: everyone reads; adding and removing need `requireAdmin`. Refusals are catalogued
 * GgErrors, answered `{ error: { code, message } }` by errorHandler.ts, and change nothing.
 */
import express, { type RequestHandler, type Router } from 'express';
import { jsonBody } from './bodyLimit.js';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { BuilderConfig, Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import { MAX_HISTORY } from '../store/tests.js';
import { findBuilder as findConfiguredBuilder, findRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import { isFailure } from '../results/failure.js';
import { parseOrThrow } from './api.js';
import { actorOf } from './admin.js';

export interface QuarantineApiDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'repos' | 'tests'>;
  log: Logger;
  requireAdmin: RequestHandler;
}

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

export function findBuilder(deps: Pick<QuarantineApiDeps, 'config' | 'store'>, repoName: string, builderName: string): { repoId: number; builder: BuilderConfig } {
  const repo = findRepository(deps.config, repoName);
  return { repoId: deps.store.repos.byName(repo.name)!.id, builder: findConfiguredBuilder(repo, builderName) };
}

export function quarantineRouter(deps: QuarantineApiDeps): Router {
  const { store, log } = deps;
  const r = express.Router();

  r.get('/quarantine/:repo/:builder', (req, res) => {
    const { repoId, builder } = findBuilder(deps, String(req.params.repo), String(req.params.builder));
    const fromConfig = builder.quarantine.map((test) => ({ test, reason: null, addedBy: null, addedAt: null, source: 'config' as const }));
    const fromApi = store.tests.quarantineList(repoId, builder.name)
      .filter((q) => !builder.quarantine.includes(q.test)).map((q) => ({ ...q, source: 'api' as const }));
    res.json({ repo: String(req.params.repo), builder: builder.name, tests: [...fromConfig, ...fromApi] });
  });

  r.post('/quarantine/:repo/:builder', deps.requireAdmin, jsonBody('16kb'), (req, res) => {
    const { repoId, builder } = findBuilder(deps, String(req.params.repo), String(req.params.builder));
    const body = parseOrThrow(AddEntry, req.body, 'quarantine entry');
    const entry = { test: body.test, reason: body.reason ?? null, addedBy: actorOf(res, body.actor), addedAt: Date.now() };
    store.tests.quarantineAdd({ repoId, builder: builder.name, test: entry.test, reason: entry.reason, addedBy: entry.addedBy, at: entry.addedAt });
    log.info({ repo: req.params.repo, builder: builder.name, test: entry.test, by: entry.addedBy }, 'test quarantined');
    res.status(201).json({ ...entry, source: 'api' });
  });

  r.delete('/quarantine/:repo/:builder', deps.requireAdmin, (req, res) => {
    const { repoId, builder } = findBuilder(deps, String(req.params.repo), String(req.params.builder));
    const { test } = parseOrThrow(RemoveQuery, req.query, 'query');
    if (store.tests.quarantineRemove(repoId, builder.name, test)) {
      log.info({ repo: req.params.repo, builder: builder.name, test, by: actorOf(res) }, 'test released from quarantine');
      res.json({ removed: test });
    } else if (builder.quarantine.includes(test)) {
      fail('GG_QUARANTINE_IN_CONFIG', `"${test}" is quarantined by greengate.yml: remove it from ` +
        `the quarantine list of builder ${builder.name} there`);
    } else {
      fail('GG_NOT_QUARANTINED', `"${test}" is not on the quarantine list of ${req.params.repo}/${builder.name}`);
    }
  });

  r.get('/tests', (req, res) => {
    const q = parseOrThrow(HistoryQuery, req.query, 'query');
    const repoId = store.repos.byName(findRepository(deps.config, q.repo).name)!.id;
    const results = store.tests.history({ repoId, builder: q.builder ?? null, name: q.name, classname: q.classname ?? null, limit: q.limit, file: q.file ?? null });
    const count = (status: string) => results.filter((t) => t.status === status).length;
    const timed = results.filter((t) => t.status !== 'skipped');
    res.json({
      repo: q.repo, builder: q.builder ?? null, name: q.name,
      summary: {
        runs: results.length, passed: count('passed'), failed: results.filter(isFailure).length, flaky: count('flaky'),
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
