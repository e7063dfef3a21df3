/**
 * Alerts Alertmanager sent us (POST /api/alertmanager, server/web/alertmanagerApi.ts), kept in
 * SQLite (server/store/alerts.ts) so a restart forgets none: an alert is identified by its
 * fingerprint (or its sorted labels) and `startsAt`. A message about an alert already known
 * changes nothing — a replayed firing message, or Alertmanager's repeat every repeat_interval —
 * except the first `resolved` of a firing alert, which records when it ended. A firing message
 * for an alert already resolved is a replay: ignored. `startsAt` in the future is taken as now
 * (a clock cannot make an alert start inside a later watch).
 *
 * `alertsFiring(service, since)` answers the watcher: the alerts labelled `service` (or `job`, or
 * `app`) = service that STARTED firing at or after `since` (the watch's start): an alert that was
 * already firing when the deploy was watched was not caused by it. Alerts are forgotten
 * KEEP_ALERTS_MS after they ended (or, firing, were received); at most MAX_ALERTS are kept.
 */
import type { AlertStore } from '../store/alerts.js';

export const MAX_ALERTS = 5_000;
export const KEEP_ALERTS_MS = 7 * 24 * 60 * 60 * 1000; // a week: a replay older than that starts before any watch anyway

export interface AlertInput {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  fingerprint?: string;
}
export interface FiringAlert { name: string; labels: Record<string, string>; startsAt: number; endsAt: number | null; summary: string | null }

const SERVICE_LABELS = ['service', 'job', 'app'];

export class AlertBook {
  constructor(private readonly store: AlertStore, private readonly now: () => number = Date.now) {}

  /** Records one alert of a message; false when it changed nothing (known already). */
  record(input: AlertInput): boolean {
    const now = this.now();
    const fingerprint = input.fingerprint ?? JSON.stringify(Object.entries(input.labels).sort());
    const startsAt = Math.min(now, parseTime(input.startsAt) ?? now);
    const endsAt = input.status === 'resolved' ? Math.min(now, parseTime(input.endsAt) ?? now) : null;
    const changed = this.store.insert({
      fingerprint, startsAt, endsAt, name: input.labels.alertname ?? '(unnamed)', labels: JSON.stringify(input.labels),
      summary: input.annotations?.summary ?? input.annotations?.description ?? null,
    }, now) || (endsAt !== null && this.store.resolve(fingerprint, startsAt, endsAt));
    if (changed) this.store.prune(now - KEEP_ALERTS_MS, MAX_ALERTS);
    return changed;
  }

  /** Alerts for `service` that started firing at or after `since` (ms). */
  alertsFiring(service: string, since: number): FiringAlert[] {
    return this.store.startedSince(since).map((r) => ({ name: r.name, labels: JSON.parse(r.labels) as Record<string, string>,
      startsAt: r.startsAt, endsAt: r.endsAt, summary: r.summary }))
      .filter((a) => SERVICE_LABELS.some((l) => a.labels[l] === service));
  }

  size(): number { return this.store.count(); }
}

function parseTime(s: string | undefined): number | null {
  if (!s || s.startsWith('0001-')) return null; // Alertmanager's zero time: not set
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}
