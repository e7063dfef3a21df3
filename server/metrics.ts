/** Prometheus metrics at /metrics (prom-client), fed from the event bus. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Events } from './events.js';
import type { Store } from './store/index.js';
import type { RunnerLink } from './dispatch/placement.js';

export function createMetrics(events: Events, store: Store, connectedRunners: () => RunnerLink[]): Registry {
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
  events.on('buildFinished', (b) => {
    builds.inc({ result: b.result ?? 'unknown' });
    if (b.finishedAt) duration.observe((b.finishedAt - b.pushedAt) / 1000);
  });
  events.on('log', (c) => logBytes.inc(Buffer.byteLength(c.data)));
  return registry;
}
