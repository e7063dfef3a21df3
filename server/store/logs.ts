/** Log chunks. (unit, seq) is the key, so a chunk the runner sends twice is stored once. */
import type { DB } from './db.js';

export interface LogChunk { unitId: number; seq: number; offset: number; stream: 'out' | 'err' | 'sys'; data: string; at: number }

export class LogStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare(`INSERT OR IGNORE INTO log_chunks (unit_id, seq, offset, stream, data, at)
        VALUES (@unitId, @seq, @offset, @stream, @data, @at)`),
      since: db.prepare(`SELECT unit_id AS unitId, seq, offset, stream, data, at FROM log_chunks
        WHERE unit_id = ? AND seq >= ? ORDER BY seq LIMIT ?`),
      tail: db.prepare(`SELECT unit_id AS unitId, seq, offset, stream, data, at FROM log_chunks
        WHERE unit_id = ? AND offset >= ? ORDER BY seq`),
      stats: db.prepare('SELECT count(*) AS chunks, coalesce(max(seq), -1) AS maxSeq FROM log_chunks WHERE unit_id = ?'),
    };
  }
  /** Returns false when the chunk was already stored. */
  append(chunk: LogChunk): boolean { return this.q.insert.run(chunk).changes > 0; }
  chunksSince(unitId: number, seq: number, limit = 1000): LogChunk[] {
    return this.q.since.all(unitId, seq, limit) as LogChunk[];
  }
  chunksFromOffset(unitId: number, offset: number): LogChunk[] {
    return this.q.tail.all(unitId, offset) as LogChunk[];
  }
  stats(unitId: number): { chunks: number; maxSeq: number } {
    return this.q.stats.get(unitId) as { chunks: number; maxSeq: number };
  }
}
