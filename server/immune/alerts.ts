/**
 * Alerts Alertmanager sent us (POST /api/alertmanager, server/web/alertmanagerApi.ts), kept in
 * memory: an alert is identified by its fingerprint (or its labels), and remembered with when it
 * started firing and, once resolved, when it ended. `alertsFiring(service, since)` answers the
 * watcher: the alerts labelled `service` (or `job`, or `app`) = service that were firing at any
 * moment from `since` on. At most MAX_ALERTS are kept (the oldest resolved go first) and a
 * resolved alert is forgotten after KEEP_RESOLVED_MS. A restart forgets them all: Alertmanager
 * sends firing alerts again every repeat_interval, and a watch resumed after a restart sees those.
 */

export const MAX_ALERTS = 5_000;
export const KEEP_RESOLVED_MS = 24 * 60 * 60 * 1000; // a day

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
  private readonly alerts = new Map<string, FiringAlert>();
  constructor(private readonly now: () => number = Date.now) {}

  record(input: AlertInput): void {
    const key = input.fingerprint ?? JSON.stringify(Object.entries(input.labels).sort());
    const startsAt = parseTime(input.startsAt) ?? this.now();
    const endsAt = input.status === 'resolved' ? (parseTime(input.endsAt) ?? this.now()) : null;
    const known = this.alerts.get(key);
    this.alerts.set(key, {
      name: input.labels.alertname ?? '(unnamed)',
      labels: input.labels,
      startsAt: known && known.endsAt === null ? Math.min(known.startsAt, startsAt) : startsAt,
      endsAt,
      summary: input.annotations?.summary ?? input.annotations?.description ?? null,
    });
    this.prune();
  }

  /** Alerts for `service` that were firing at some moment at or after `since` (ms). */
  alertsFiring(service: string, since: number): FiringAlert[] {
    return [...this.alerts.values()].filter((a) => SERVICE_LABELS.some((l) => a.labels[l] === service) &&
      (a.endsAt === null || a.endsAt >= since));
  }

  size(): number { return this.alerts.size; }

  private prune(): void {
    const old = this.now() - KEEP_RESOLVED_MS;
    for (const [key, a] of this.alerts) if (a.endsAt !== null && a.endsAt < old) this.alerts.delete(key);
    if (this.alerts.size <= MAX_ALERTS) return;
    const resolved = [...this.alerts].filter(([, a]) => a.endsAt !== null).sort((x, y) => x[1].endsAt! - y[1].endsAt!);
    for (const [key] of resolved) { if (this.alerts.size <= MAX_ALERTS) break; this.alerts.delete(key); }
    for (const key of this.alerts.keys()) { if (this.alerts.size <= MAX_ALERTS) break; this.alerts.delete(key); }
  }
}

function parseTime(s: string | undefined): number | null {
  if (!s || s.startsWith('0001-')) return null; // Alertmanager's zero time: not set
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}
