/** The in-process event bus: what changed, for live pages, metrics and the tree. */
import { EventEmitter } from 'node:events';
import type { BuildRow } from './store/builds.js';
import type { UnitRow } from './store/units.js';
import type { LogChunk } from './store/logs.js';

export interface EventMap {
  build: [build: BuildRow];
  buildFinished: [build: BuildRow];
  unit: [unit: UnitRow];
  log: [chunk: LogChunk & { buildId: number }];
  runners: [];
  tree: [event: { repo: string; branch: string }];
}

export class Events extends EventEmitter<EventMap> {
  constructor() {
    super();
    this.setMaxListeners(1000);
  }
}
