/**
 * What is told, and from where — each notification enqueued in the transaction of its event:
 * - tree.closed / tree.reopened: pipeline.ts `treeChanged` (a branch going from open to closed or
 *   maintenance, and back to open; a closure moving to a newer red build is not a new closure).
 *   A closure names its builder, failing tests, blamelist (whose authors are mailed) and link, and
 *   has a `culprit` field: null until culprit finding knows one (`culpritOf`; a one-commit new breakage is known at once).
 * - build.failed / build.fixed: pipeline.ts `buildFinished`, for a gated branch's build that decides its
 *   builder (the newest by push order) and differs from the build that decided before it. When the same
 *   build closed or reopened the tree (told just before, in the same transaction), it goes `with` that
 *   notification: e-mail does not tell anyone twice (one mail per person per push; webhooks get both).
 * - runner.lost: pipeline.ts `leaving` (not a connection replaced by the same runner's new one, nor a runner
 *   that stopped: SIGTERM/SIGINT or exiting closes its socket normally, 1000 — a clean leave, units requeued all the same).
 * - unit.waiting: a check every WAIT_CHECK_MS: a build whose oldest queued unit has waited longer
 *   than `notify.unitWaitSeconds`, once per build.
 * Event keys make each one stored once (tree event id, build id, runner + time, build id).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { TreeChange } from '../gate/tree.js';
import type { RunnerLink } from '../dispatch/placement.js';
import type { Outbox } from './outbox.js';

export const WAIT_CHECK_MS = 5_000; // 5 seconds
export const MAX_LISTED = 10; // tests or commits named in a text; the payload has up to MAX_PAYLOAD_ITEMS
export const MAX_PAYLOAD_ITEMS = 100;

export interface Culprit { sha: string; confirmed: boolean; builds: number[] }

export interface TriggerDeps {
  store: Store;
  config: Readonly<Config>;
  outbox: Outbox;
  log: Logger;
  baseUrl(): string;
  /** Why a build's units wait (no runner with its labels, …), or null. */
  waitingReason(build: BuildRow): string | null;
  /** Culprit finding's answer for a red build, when it has one (written before the tree rule: server/pipeline.ts). */
  culpritOf?: (buildId: number) => Culprit | null;
}

export class NotifyTriggers {
  private readonly culpritOf: (buildId: number) => Culprit | null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly d: TriggerDeps) {
    this.culpritOf = d.culpritOf ?? (() => null);
  }

  start(): void {
    this.timer = setInterval(() => this.checkWaiting(), WAIT_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Inside the transaction of a tree change. */
  treeChanged(c: TreeChange): void {
    const wasOpen = !c.before || c.before.state === 'open';
    if (c.state !== 'open' && wasOpen) this.treeClosed(c);
    else if (c.state === 'open' && !wasOpen) this.treeReopened(c);
  }

  /** Inside the transaction that finished a build. */
  buildFinished(b: BuildRow): void {
    if (b.kind !== 'branch' || !['passed', 'failed', 'flaky'].includes(b.result ?? '')) return;
    const repo = this.d.config.repositories.find((r) => r.name === b.repo);
    if (!repo?.gate.includes(b.branch)) return;
    if (this.d.store.builds.deciding(b.repoId, b.builder, b.branch)?.id !== b.id) return; // a rebuild of an older commit
    const before = this.d.store.builds.previous(b);
    const red = b.result === 'failed';
    const wasRed = before?.result === 'failed';
    if (red === wasRed) return;
    const blamelist = this.blamelist(b);
    const failing = red ? this.failingTests(b) : [];
    const head = red
      ? `${b.repo}/${b.branch}: ${b.builder} build ${b.id} failed at ${b.sha.slice(0, 10)}${before ? ` (build ${before.id} was ${before.result})` : ''}`
      : `${b.repo}/${b.branch}: ${b.builder} build ${b.id} ${b.result} at ${b.sha.slice(0, 10)} — fixed (build ${before!.id} failed)`;
    this.d.outbox.enqueue(red ? 'build.failed' : 'build.fixed', {
      text: [head, failing.length ? `failing tests: ${listed(failing.map((t) => t.name))}` : null,
        blamelist.length ? `blamelist: ${listed(blamelist.map(describeCommit))}` : null, this.buildUrl(b.id)].filter(Boolean).join('\n'),
      repo: b.repo, branch: b.branch, builder: b.builder, build: this.buildJson(b), previous: before ? this.buildJson(before) : null,
      failingTests: failing, blamelist, link: this.buildUrl(b.id),
    }, { repo: b.repo, emails: red ? blamelist.map((c) => c.email) : [] },
    { key: `build:${b.id}`, at: b.finishedAt ?? Date.now(), with: this.d.store.notifications.treeNoticeOf(b.repoId, b.id) });
  }

  /** Inside the transaction that records a runner's leaving. */
  runnerLeft(link: RunnerLink, reason: string, units: readonly number[], at: number, clean = false): void {
    if (clean || reason.startsWith('replaced by')) return; // it stopped (a normal close of its own socket), or came back
    this.d.outbox.enqueue('runner.lost', {
      text: `runner ${link.name} lost: ${reason}${units.length ? ` — ${units.length} running unit(s) go back to the queue` : ''}\n${this.d.baseUrl()}/runners`,
      runner: { id: link.runnerId, name: link.name, slots: link.slots, labels: link.labels ?? {} }, reason, units: [...units],
      link: `${this.d.baseUrl()}/runners`,
    }, { repo: null }, { key: `runner.lost:${link.runnerId}:${at}`, at });
  }

  /** Builds whose units have waited longer than their repository's unitWaitSeconds: told once each. */
  checkWaiting(now = Date.now()): void {
    try {
      const limits = new Map(this.d.config.repositories.map((r) => [r.name, this.d.outbox.settingsFor(r.name).unitWaitSeconds]));
      const least = Math.min(...[...limits.values()].map((s) => s ?? Infinity));
      if (!Number.isFinite(least)) return;
      for (const w of this.d.store.notifications.waitingSince(now - least * 1000)) {
        const limit = limits.get(w.repo);
        const key = `unit.waiting:${w.buildId}`;
        if (limit === undefined || w.since > now - limit * 1000 || this.d.store.notifications.has(key)) continue;
        const build = this.d.store.builds.get(w.buildId);
        const why = build ? this.d.waitingReason(build) : null;
        const waited = Math.round((now - w.since) / 1000);
        this.d.store.tx(() => this.d.outbox.enqueue('unit.waiting', {
          text: `${w.repo}/${w.branch}: ${w.units} unit(s) of ${w.builder} build ${w.buildId} have waited ${waited} s for a runner` +
            `${why ? ` (${why})` : ''}\n${this.buildUrl(w.buildId)}`,
          repo: w.repo, branch: w.branch, builder: w.builder, build: { id: w.buildId, url: this.buildUrl(w.buildId) },
          units: w.units, waitedSeconds: waited, limitSeconds: limit, why, link: this.buildUrl(w.buildId),
        }, { repo: w.repo }, { key, at: now }));
      }
    } catch (err) {
      this.d.log.warn({ err }, 'could not check for units waiting too long');
    }
  }

  private treeClosed(c: TreeChange): void {
    const b = c.buildId ? this.d.store.builds.get(c.buildId) : undefined;
    const blamelist = b ? this.blamelist(b) : [];
    const failing = b ? this.failingTests(b) : [];
    const culprit = b ? this.culpritOf(b.id) : null;
    const link = b ? this.buildUrl(b.id) : `${this.d.baseUrl()}/tree`;
    const what = c.state === 'maintenance' ? 'under maintenance' : 'closed';
    const head = b ? `${c.repo}/${c.branch} ${what}: ${b.builder} build ${b.id} failed at ${b.sha.slice(0, 10)}`
      : `${c.repo}/${c.branch} ${what} by ${c.actor ?? 'hand'}${c.message ? `: ${c.message.split('\n')[0]}` : ''}`;
    this.d.outbox.enqueue('tree.closed', {
      text: [head, failing.length ? `failing tests: ${listed(failing.map((t) => t.name))}` : null,
        blamelist.length ? `blamelist: ${listed(blamelist.map(describeCommit))}` : null,
        culprit ? `culprit: ${culprit.sha.slice(0, 10)}${culprit.confirmed ? '' : ' (suspected)'}` : null, link].filter(Boolean).join('\n'),
      repo: c.repo, branch: c.branch, state: c.state, automatic: c.automatic, reason: c.reason, message: c.message, actor: c.actor,
      builder: b?.builder ?? null, build: b ? this.buildJson(b) : null, failingTests: failing, blamelist, culprit, link, treeEvent: c.id,
    }, { repo: c.repo, emails: blamelist.map((x) => x.email) }, { key: `tree:${c.id}`, at: c.at });
  }

  private treeReopened(c: TreeChange): void {
    const closedForMs = c.before ? Math.max(0, c.at - c.before.since) : null;
    const by = c.automatic ? c.reason ?? 'a green build' : `${c.actor ?? 'someone'} by hand${c.message ? `: ${c.message}` : ''}`;
    const link = c.buildId ? this.buildUrl(c.buildId) : `${this.d.baseUrl()}/tree`;
    this.d.outbox.enqueue('tree.reopened', {
      text: `${c.repo}/${c.branch} reopened after ${closedForMs === null ? '?' : formatDuration(closedForMs)}, by ${by}\n${link}`,
      repo: c.repo, branch: c.branch, closedForMs, closedSince: c.before?.since ?? null, by, automatic: c.automatic, actor: c.actor,
      reason: c.reason, build: c.buildId ? { id: c.buildId, url: this.buildUrl(c.buildId) } : null,
      closedBy: c.before?.buildId ? { id: c.before.buildId, url: this.buildUrl(c.before.buildId) } : null, link, treeEvent: c.id,
    }, { repo: c.repo }, { key: `tree:${c.id}`, at: c.at });
  }

  private blamelist(b: BuildRow) {
    return this.d.store.builds.blamelist(b.id).slice(0, MAX_PAYLOAD_ITEMS);
  }

  private failingTests(b: BuildRow) {
    return this.d.store.tests.failingByBuild(b.id).slice(0, MAX_PAYLOAD_ITEMS)
      .map((t) => ({ name: t.classname ? `${t.classname} > ${t.name}` : t.name, file: t.file, message: t.message?.slice(0, 500) ?? null }));
  }

  private buildJson(b: BuildRow) {
    return { id: b.id, url: this.buildUrl(b.id), builder: b.builder, sha: b.sha, result: b.result };
  }

  private buildUrl(id: number): string { return `${this.d.baseUrl()}/builds/${id}`; }
}

function describeCommit(c: { sha: string; author: string | null; subject: string | null }): string {
  return `${c.sha.slice(0, 10)} ${c.author ?? '?'}: ${c.subject ?? ''}`;
}

function listed(items: readonly string[]): string {
  const more = items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : '';
  return items.slice(0, MAX_LISTED).join('; ') + more;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
