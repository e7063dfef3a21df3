/**
 * The runner registry: which runners are connected now (in memory; SQLite keeps who was ever
 * seen). A runner joining claims the units it still holds (SQLite says whether it does); one
 * leaving loses its running units to the lifecycle. Whoever must react to the runner set changing
 * (re-splitting queued builds, then dispatching) is told through `onChange`, wired explicitly in
 * main.ts, so the order of reactions is written down rather than left to listener order.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { Events } from '../events.js';
import type { ServerMessage } from '../protocol.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { RunnerLink } from './placement.js';

export type { RunnerLink } from './placement.js';

export class RunnerRegistry {
  private readonly links = new Map<number, RunnerLink>();
  private readonly leaving: (link: RunnerLink, reason: string, units: readonly number[], at: number, clean: boolean) => void;
  /** Called after the runner set changed (a join or a leave); given at construction (server/pipeline.ts). */
  onChange: () => void;

  constructor(
    private readonly store: Store,
    private readonly lifecycle: BuildLifecycle,
    private readonly events: Events,
    private readonly log: Logger,
    links: {
      /**
       * The writers that must commit with a runner's leaving (the notifications outbox): called inside the
       * transaction that marks it disconnected, with the units it held, and whether it left cleanly (it
       * stopped: a normal close of its own socket) rather than was lost. They must not await.
       */
      leaving?: (link: RunnerLink, reason: string, units: readonly number[], at: number, clean: boolean) => void;
      changed?: () => void;
    } = {},
  ) {
    this.leaving = links.leaving ?? (() => undefined);
    this.onChange = links.changed ?? (() => undefined);
    store.runners.markAllDisconnected();
  }

  connected(): RunnerLink[] {
    return [...this.links.values()];
  }

  get(runnerId: number): RunnerLink | undefined {
    return this.links.get(runnerId);
  }

  /** Sends to a connected runner; false when it is not connected. */
  send(runnerId: number, message: ServerMessage): boolean {
    const link = this.links.get(runnerId);
    if (!link) return false;
    link.send(message);
    return true;
  }

  /** A runner said hello. Returns the units it must drop (it no longer holds them). */
  join(link: RunnerLink, claimed: readonly { unit: number; finished: boolean }[]): number[] {
    const old = this.links.get(link.runnerId);
    if (old && old !== link) this.leave(old, 'replaced by a new connection');
    this.links.set(link.runnerId, link);
    const drop: number[] = [];
    for (const c of claimed) {
      const unit = this.store.units.get(c.unit);
      if (unit && unit.runnerId === link.runnerId && unit.state === 'running') {
        link.units.add(unit.id);
        this.lifecycle.claimed(unit);
      } else if (!(unit && unit.runnerId === link.runnerId && unit.state === 'done' && c.finished && unit.result !== 'exception')) {
        // Kept only when its result was recorded and just the ack went missing; a lost unit ran again elsewhere.
        drop.push(c.unit);
      }
    }
    this.changed();
    return drop;
  }

  /** A runner's link ended: `clean` when it stopped (its units go back to the queue all the same), else it was lost. */
  leave(link: RunnerLink, reason: string, now = Date.now(), clean = false): void {
    if (this.links.get(link.runnerId) !== link) return;
    this.links.delete(link.runnerId);
    const held = [...link.units];
    this.store.tx(() => {
      this.store.runners.markDisconnected(link.runnerId, now);
      this.leaving(link, reason, held, now, clean);
    });
    for (const id of link.units) {
      const unit = this.store.units.get(id);
      if (unit && unit.state === 'running' && unit.runnerId === link.runnerId) {
        this.lifecycle.unitLost(unit, `runner ${link.name} ${clean ? 'left' : 'lost'}: ${reason}`, now);
      }
    }
    link.units.clear();
    this.changed();
  }

  private changed(): void {
    this.events.emit('runners');
    try {
      this.onChange();
    } catch (err) {
      this.log.error({ err }, 'reacting to the runner set failed');
    }
  }
}
