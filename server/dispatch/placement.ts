/**
 * Placement: which connected runner takes a queued unit. The runner with the most free slots
 * takes it, except that a flaky retry (and a unit its runner could not run) avoids the runner it
 * failed on: it goes to another runner with a free slot when there is one. When none is free it
 * waits, but never longer than running it again at once would take: the avoided runner takes it
 * when no other runner is expected to free a slot within max(the unit's expected time,
 * AVOID_WAIT_MS), or once it has waited that long (the scheduler's sweep every second looks
 * again). Alone, the avoided runner takes it at once.
 *
 * Labels: a unit whose builder has `runsOn:` goes only to a runner whose labels hold every one of
 * those key=value pairs; the rules above apply among those runners. `describeWait` says why a
 * unit no connected runner can take is waiting.
 */
import { labelsMatch, type Labels, type ServerMessage } from '../protocol.js';
import type { UnitRow } from '../store/units.js';

export const AVOID_WAIT_MS = 1_000; // 1 second: the least a retry waits for a runner other than the one it failed on

/** One connected runner, as the gateway presents it. */
export interface RunnerLink {
  readonly runnerId: number;
  readonly name: string;
  readonly slots: number;
  readonly units: Set<number>;
  /** What the runner offers (`--label`); absent means none. */
  readonly labels?: Labels;
  send(message: ServerMessage): void;
  /** Several messages in one write (the gateway's runners); absent: one send each. */
  sendMany?(messages: readonly ServerMessage[]): void;
}

type UnitLookup = (id: number) => UnitRow | undefined;

export function hasFreeSlot(links: Iterable<RunnerLink>): boolean {
  for (const l of links) if (l.units.size < l.slots) return true;
  return false;
}

/** The runner to take `unit` now, or undefined when it should wait (see above). */
export function pickRunner(links: Iterable<RunnerLink>, unit: UnitRow, now: number, unitOf: UnitLookup, needs?: Labels): RunnerLink | undefined {
  const all = [...links].filter((l) => labelsMatch(l.labels, needs));
  let best: RunnerLink | undefined;
  let avoided: RunnerLink | undefined;
  for (const l of all) {
    const free = l.slots - l.units.size;
    if (free <= 0) continue;
    if (l.runnerId === unit.avoidRunnerId) avoided = l;
    else if (!best || free > best.slots - best.units.size) best = l;
  }
  if (best || !avoided) return best;
  const budget = Math.max(unit.expectedMs, AVOID_WAIT_MS);
  if (now - unit.queuedAt >= budget) return avoided;
  return findSoonestOtherSlot(all, avoided.runnerId, now, unitOf) - now > budget ? avoided : undefined;
}

/** When a runner other than `except` is expected to free a slot (Infinity when there is no other runner). */
function findSoonestOtherSlot(links: readonly RunnerLink[], except: number, now: number, unitOf: UnitLookup): number {
  let soonest = Infinity;
  for (const l of links) {
    if (l.runnerId === except) continue;
    if (l.units.size < l.slots) return now;
    for (const id of l.units) {
      const u = unitOf(id);
      if (u) soonest = Math.min(soonest, now + remainingMs(u, now));
    }
  }
  return soonest;
}

/** What is left of a unit's expected time: all of it until it starts. */
export function remainingMs(u: UnitRow, now: number): number {
  if (u.state === 'done') return 0;
  const since = u.startedAt ?? u.assignedAt;
  return u.state === 'running' && since !== null ? Math.max(0, u.expectedMs - (now - since)) : u.expectedMs;
}

/** Why a unit needing `needs` waits when no connected runner could ever take it; null when one could. */
export function describeWait(links: Iterable<RunnerLink>, needs: Labels | undefined): string | null {
  const all = [...links];
  const wanted = Object.entries(needs ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
  if (all.length === 0) return `waiting: no runner is connected${wanted ? ` (this builder needs ${wanted})` : ''}`;
  if (all.some((l) => labelsMatch(l.labels, needs))) return null;
  return `waiting: no connected runner has ${wanted}`;
}
