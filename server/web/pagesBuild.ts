/**
 * `/builds/:id`: header, the failures (new ones first, then those already failing before, with
 * a quarantine form for admins), blamelist, units (queue wait, setup and run time), every
 * per-test result, and one log viewer per unit; `/builds/:id/log`: the log viewers alone.
 * Without JavaScript a log shows its plain tail (NOSCRIPT_TAIL_BYTES) and links the raw log;
 * app.js replaces it with the coloured tail and follows it live.
 */
import express, { type Router } from 'express';
import type { PageContext } from './pages.js';
import type { Store } from '../store/index.js';
import { send, sendFragment } from './pagesView.js';
import { contentionJson, getBuild } from './api.js';
import { plainTail } from './pagesLog.js';
import { supersededUnits, unitFiles, type UnitRow } from '../store/units.js';
import { isFailure } from '../results/failure.js';
import type { TestResultRow } from '../store/tests.js';
import type { BuildRow } from '../store/builds.js';
import { culpritJson, probeJson } from '../culprit/json.js';
import type { Config } from '../config/config.js';
import { causeJson } from './manualBuildsApi.js';
import { failedUnits } from '../changes/manual.js';
import { stepsJson, unitsBySteps } from './steps.js';

export const MAX_TEST_ROWS = 5000; // per-test rows shown on a build page
export const OPEN_LOGS_WHEN_UNITS_AT_MOST = 2; // small builds show every log open

export interface BuildPagesDeps {
  store: Pick<Store, 'builds' | 'units' | 'tests' | 'culprits' | 'contention' | 'runners' | 'buildCauses' | 'steps' | 'artifacts'>;
  /** For the declared params' defaults shown with a build (absent: only the params asked for). */
  config?: Pick<Config, 'repositories'>;
}

export function buildPagesRouter(ctx: PageContext, deps: BuildPagesDeps): Router {
  const { env } = ctx;
  const { store } = deps;
  const r = express.Router();

  r.get('/builds/:id', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(store, req.params.id);
    const times = req.query.times === '1';
    const b = { ...summaryModel(ctx, deps, build), logs: logsModel(ctx, store, build, false, true, times), times };
    send(res, env, 'build.njk', ctx.locals(req, { b, live: 'build', liveBuild: build.id }), t0);
  });

  r.get('/builds/:id/log', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(store, req.params.id);
    const times = req.query.times === '1';
    const b = { build, logs: logsModel(ctx, store, build, true, true, times), times };
    send(res, env, 'buildLog.njk', ctx.locals(req, { b, live: 'build', liveBuild: build.id }), t0);
  });

  r.get('/fragments/build/:id', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(store, req.params.id);
    const render = () => env.render('_build.njk', { now: Date.now(), b: summaryModel(ctx, deps, build) });
    // An admin's fragment carries their CSRF token in the quarantine forms: never cached or shared.
    const admin = ctx.sessions.isAdmin(req);
    const html = admin
      ? env.render('_build.njk', { now: Date.now(), b: summaryModel(ctx, deps, build), admin, csrf: ctx.sessions.csrfToken(req) })
      : ctx.fragments.get(`build/${build.id}`, render);
    sendFragment(res, html, t0);
  });

  r.get('/fragments/build/:id/logs', (req, res) => {
    const t0 = performance.now();
    const build = getBuild(store, req.params.id);
    sendFragment(res, env.render('_logs.njk', { now: Date.now(), b: { build, logs: logsModel(ctx, store, build, false, false) } }), t0);
  });
  return r;
}

function summaryModel(ctx: PageContext, deps: BuildPagesDeps, build: BuildRow) {
  const { store } = deps;
  const now = Date.now();
  const all = store.units.byBuild(build.id);
  const retried = supersededUnits(all);
  const units = all.map((u) => ({
    ...u, files: unitFiles(u), superseded: retried.has(u.id), ...unitTimes(u, now),
    running: u.state === 'running' ? now - (u.startedAt ?? u.assignedAt ?? now) : 0,
  }));
  const results = store.tests.finalByBuild(build.id);
  const counts: Record<string, number> = {};
  for (const t of results) counts[t.status] = (counts[t.status] ?? 0) + 1;
  // New failures first: they are what a push broke; then the ones that were failing already.
  const failures = results.filter((t) => isListedFailure(t) && !t.failingBefore).concat(results.filter((t) => t.failingBefore))
    .map((t) => ({ ...t, key: t.classname ? `${t.classname} ${t.name}` : t.name }));
  const steps = stepsJson(store, build).map((s) => ({ ...s,
    took: s.startedAt === null ? null : (s.finishedAt ?? now) - s.startedAt }));
  return {
    build, units, counts, failures, waiting: ctx.waitingReason(build),
    ...causeJson(store, deps.config ?? { repositories: [] }, build), // cause (schedule, by hand, re-run) and params
    failedUnits: failedUnits(all).length,
    // A stepped build's units grouped under their steps (each with its state and time); one group without steps.
    stepped: store.steps.has(build.id), stepGroups: unitsBySteps(steps, units, build),
    contention: contentionJson(store, build, all),
    blamelist: store.builds.blamelist(build.id),
    culprit: culpritJson(store, build.id),
    bisect: build.kind === 'bisect' ? probeJson(store, build.id) : null,
    progress: ctx.pages.fileProgress(build.id),
    took: build.finishedAt !== null ? build.finishedAt - (build.startedAt ?? build.pushedAt) : null,
    tests: results.slice(0, MAX_TEST_ROWS),
    testsCapped: results.length > MAX_TEST_ROWS,
    testsTotal: results.length,
    artifacts: store.artifacts.byBuild(build.id), // views/_artifacts.njk
  };
}

/**
 * Where a unit's time went: waiting in the queue (queued → assigned), setup (assigned → started:
 * checkout and the builder's setup), and the run (started → finished). A unit whose setup failed
 * never started: its time after assignment is setup. Null while a phase has not ended.
 */
export function unitTimes(u: Pick<UnitRow, 'queuedAt' | 'assignedAt' | 'startedAt' | 'finishedAt' | 'state'>, now: number) {
  const queueMs = u.assignedAt !== null ? u.assignedAt - u.queuedAt : u.state === 'queued' ? now - u.queuedAt : null;
  const setupEnd = u.startedAt ?? u.finishedAt ?? (u.state === 'running' ? now : null);
  const setupMs = u.assignedAt !== null && setupEnd !== null ? Math.max(0, setupEnd - u.assignedAt) : null;
  const runMs = u.startedAt !== null ? (u.finishedAt ?? now) - u.startedAt : null;
  const took = u.finishedAt !== null && (u.startedAt ?? u.assignedAt) !== null ? u.finishedAt - (u.startedAt ?? u.assignedAt)! : null;
  return { queueMs, setupMs, runMs, took, setupRunning: u.state === 'running' && u.startedAt === null,
    runRunning: u.state === 'running' && u.startedAt !== null };
}

/** Listed among the failures on the page: a failure, or one that passed only on retry. */
function isListedFailure(t: TestResultRow): boolean {
  return isFailure(t) || t.status === 'flaky';
}

/** One viewer per unit; failed and running ones open, with a plain tail for browsers without JavaScript. */
function logsModel(ctx: PageContext, store: BuildPagesDeps['store'], build: BuildRow, allOpen = false, withTails = true, withTimes = false) {
  const units = store.units.byBuild(build.id);
  return units.map((u: UnitRow) => {
    const open = allOpen || units.length <= OPEN_LOGS_WHEN_UNITS_AT_MOST || u.state === 'running'
      || u.result === 'failed' || u.result === 'exception';
    const tail = open && withTails && u.logBytes > 0 ? plainTail(ctx.pages, u.id, withTimes) : null;
    return { ...u, open, tail: tail?.text ?? null, tailFrom: tail?.from ?? 0 };
  });
}
