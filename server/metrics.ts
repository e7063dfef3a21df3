/** Prometheus metrics at /metrics (prom-client), fed from the event bus. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Events } from './events.js';
import type { Store } from './store/index.js';
import type { RunnerLink } from './dispatch/placement.js';
import type { StorageHealth } from './storageHealth.js';

export function createMetrics(events: Events, store: Store, connectedRunners: () => RunnerLink[], health: StorageHealth): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'greengate_process_' });
  const builds = new Counter({ name: 'greengate_builds_finished_total', help: 'Builds finished, by result', labelNames: ['result'], registers: [registry] });
  const duration = new Histogram({
    name: 'greengate_build_seconds', help: 'Push to build finished', registers: [registry],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  });
  const logBytes = new Counter({ name: 'greengate_log_bytes_total', help: 'Log bytes stored', registers: [registry] });
  new Gauge({ name: 'greengate_queue_units', help: 'Units waiting for a runner', registers: [registry],
    collect() { this.set(store.units.queuedCount()); } });
  new Gauge({ name: 'greengate_runners_connected', help: 'Runners connected', registers: [registry],
    collect() { this.set(connectedRunners().length); } });
  new Gauge({ name: 'greengate_runner_slots_busy', help: 'Runner slots running a unit', registers: [registry],
    collect() { this.set(connectedRunners().reduce((s, l) => s + l.units.size, 0)); } });
  new Gauge({ name: 'greengate_notifications', help: 'Notification deliveries by state (pending: not yet delivered; failed: given up)',
    labelNames: ['state'], registers: [registry],
    collect() { for (const state of ['pending', 'failed'] as const) this.set({ state }, store.notifications.count(state)); } });
  const storageErrors = new Counter({
    name: 'greengate_storage_errors_total', help: 'Database writes that failed for a storage fault (disk full, I/O error, read-only) or a lock held by another process (busy)',
    labelNames: ['kind'], registers: [registry],
  });
  const heldBack = new Counter({
    name: 'greengate_storage_writes_held_back_total', help: 'Writes not attempted while storage was degraded (answered 503, or retry to a runner)',
    labelNames: ['what'], registers: [registry],
  });
  new Gauge({ name: 'greengate_storage_degraded', help: '1 while the database cannot be written', registers: [registry],
    collect() { this.set(health.writable ? 0 : 1); } });
  for (const kind of ['full', 'io', 'busy'] as const) storageErrors.inc({ kind }, 0);
  health.on('fault', (kind) => storageErrors.inc({ kind }));
  health.on('busy', () => storageErrors.inc({ kind: 'busy' }));
  health.on('refused', (what) => heldBack.inc({ what: /^(GET|HEAD|POST|PUT|PATCH|DELETE) /.test(what) ? 'http' : what }));
  events.on('buildFinished', (b) => {
    builds.inc({ result: b.result ?? 'unknown' });
    if (b.finishedAt) duration.observe((b.finishedAt - b.pushedAt) / 1000);
  });
  events.on('log', (c) => logBytes.inc(Buffer.byteLength(c.data)));
  return registry;
}

export interface HookMetrics {
  /** Change notices (or their updates) not taken in, by reason: unauthenticated, disagrees_with_git. */
  changesRejected: Counter<'reason'>;
  /** Gate verdict requests refused for want of the hook secret. */
  gateUnauthenticated: Counter;
}
const hookMetrics = new WeakMap<Registry, HookMetrics>();

/** The counters of the hook routes, registered once per registry. */
export function hookMetricsOf(registry: Registry): HookMetrics {
  let m = hookMetrics.get(registry);
  if (!m) {
    m = {
      changesRejected: new Counter({ name: 'greengate_changes_rejected_total', help: 'Change notice updates not taken in, by reason',
        labelNames: ['reason'], registers: [registry] }),
      gateUnauthenticated: new Counter({ name: 'greengate_gate_unauthenticated_total', help: 'Gate requests without a valid hook secret',
        registers: [registry] }),
    };
    hookMetrics.set(registry, m);
  }
  return m;
}
