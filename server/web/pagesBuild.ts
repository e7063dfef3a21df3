/**
 * `/builds/:id`: header, blamelist, units, failed tests first with their messages, every
 * per-test result, and one log viewer per unit; `/builds/:id/log`: the log viewers alone.
 * Without JavaScript a log shows its plain tail (NOSCRIPT_TAIL_BYTES) and links the raw log;
 * app.js replaces it with the coloured tail and follows it live.
 */
import express, { type Router } from 'express';
import type { PageDeps } from './pages.js';
import { send, sendFragment } from './pagesView.js';
import { getBuild, waitingReason } from './api.js';
import { plainTail } from './pagesLog.js';
import { unitFiles, type UnitRow } from '../store/units.js';
import type { TestResultRow } from '../store/tests.js';
import type { BuildRow } from '../store/builds.js';

export const MAX_TEST_ROWS = 5000; // per-test rows shown on a build page
export const OPEN_LOGS_WHEN_UNITS_AT_MOST = 2; // small builds show every log open

export function buildPagesRouter(deps: PageDeps): Router {
  const { app, env } = deps;
  const r = express.Router();

  r.get('/builds/:id', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(app, req.params.id);
    const b = { ...summaryModel(deps, build), logs: logsModel(deps, build) };
    send(res, env, 'build.njk', deps.locals(req, { b, live: 'build', liveBuild: build.id }), t0);
  });

  r.get('/builds/:id/log', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(app, req.params.id);
    const b = { build, logs: logsModel(deps, build, true) };
    send(res, env, 'buildLog.njk', deps.locals(req, { b, live: 'build', liveBuild: build.id }), t0);
  });

  r.get('/fragments/build/:id', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(app, req.params.id);
    const html = deps.fragments.get(`build/${build.id}`, () => env.render('_build.njk', { now: Date.now(), b: summaryModel(deps, build) }));
    sendFragment(res, html, t0);
  });

  r.get('/fragments/build/:id/logs', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(app, req.params.id);
    sendFragment(res, env.render('_logs.njk', { now: Date.now(), b: { build, logs: logsModel(deps, build, false, false) } }), t0);
  });
  return r;
}

function summaryModel(deps: PageDeps, build: BuildRow) {
  const now = Date.now();
  const all = deps.app.store.units.byBuild(build.id);
  const retried = new Set(all.map((u) => u.retryOf).filter((id): id is number => id !== null));
  const units = all.map((u) => ({
    ...u, files: unitFiles(u), superseded: retried.has(u.id),
    took: u.finishedAt !== null && (u.startedAt ?? u.assignedAt) !== null ? u.finishedAt - (u.startedAt ?? u.assignedAt)! : null,
    running: u.state === 'running' ? now - (u.startedAt ?? u.assignedAt ?? now) : 0,
  }));
  const results = deps.app.store.tests.byBuild(build.id);
  const counts: Record<string, number> = {};
  for (const t of results) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const failures = results.filter(isFailure);
  return {
    build, units, counts, failures, waiting: waitingReason(deps.app, build),
    blamelist: deps.app.store.builds.blamelist(build.id),
    progress: deps.pages.fileProgress(build.id),
    took: build.finishedAt !== null ? build.finishedAt - (build.startedAt ?? build.pushedAt) : null,
    tests: results.slice(0, MAX_TEST_ROWS),
    testsCapped: results.length > MAX_TEST_ROWS,
    testsTotal: results.length,
  };
}

function isFailure(t: TestResultRow): boolean {
  return t.status === 'failed' || t.status === 'error' || t.status === 'flaky';
}

/** One viewer per unit; failed and running ones open, with a plain tail for browsers without JavaScript. */
function logsModel(deps: PageDeps, build: BuildRow, allOpen = false, withTails = true) {
  const units = deps.app.store.units.byBuild(build.id);
  return units.map((u: UnitRow) => {
    const open = allOpen || units.length <= OPEN_LOGS_WHEN_UNITS_AT_MOST || u.state === 'running'
      || u.result === 'failed' || u.result === 'exception';
    const tail = open && withTails && u.logBytes > 0 ? plainTail(deps.pages, u.id) : null;
    return { ...u, open, tail: tail?.text ?? null, tailFrom: tail?.from ?? 0 };
  });
}
