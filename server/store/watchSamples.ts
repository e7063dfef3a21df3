/**
 * What deploy watches read (migrations/018_immune_records.sql): one row per window — the baseline
 * ('before'), each slice of the window after a stage ('after'), the rest of the fleet over a slice
 * ('rest') — written as soon as it is read, so a watch resumed after a restart reads only what it
 * has not stored. `readings` is the watcher's JSON (server/immune/samples.ts); this module does
 * not look inside. Adding a window already stored keeps the first one.
 */
import type { DB } from './db.js';

export type SampleSide = 'before' | 'after' | 'rest';
export interface WatchSampleRow { side: SampleSide; from: number; to: number; readings: string; at: number }

export class WatchSampleStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      add: db.prepare(`INSERT INTO watch_samples (deploy_id, position, side, from_ms, to_ms, readings, at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (deploy_id, position, side, from_ms) DO NOTHING`),
      of: db.prepare(`SELECT side, from_ms AS "from", to_ms AS "to", readings, at FROM watch_samples
        WHERE deploy_id = ? AND position = ? ORDER BY side, from_ms`),
      dropSide: db.prepare('DELETE FROM watch_samples WHERE deploy_id = ? AND position = ? AND side = ?'),
    };
  }

  /** Stores a window's readings; false when that window was stored already (the first stays). */
  add(deployId: number, position: number, row: WatchSampleRow): boolean {
    return this.q.add.run(deployId, position, row.side, row.from, row.to, row.readings, row.at).changes > 0;
  }
  /** The stage's stored windows, by side then start. */
  of(deployId: number, position: number): WatchSampleRow[] { return this.q.of.all(deployId, position) as WatchSampleRow[]; }
  /** Forgets the windows after a stage (and the fleet's), keeping its baseline: a released hold watches again. */
  dropAfter(deployId: number, position: number): void {
    this.q.dropSide.run(deployId, position, 'after');
    this.q.dropSide.run(deployId, position, 'rest');
  }
}
