/**
 * Byte ranges of a unit's log for the log viewer: `GET /units/:id/log` answers JSON
 * `{ unit, from, to, line, text, size, done }` where `text` is bytes [from, to) of the log and
 * `line` the 1-based number of its first line.
 *
 *   (no query)   the tail: about the last TAIL_BYTES, starting at a line start
 *   ?from=N      bytes from N on, at most MAX_RANGE_BYTES (whole chunks); `to` says where to go on
 *   ?before=N    about TAIL_BYTES before N, starting at a line start (the "load earlier" button);
 *                `&bytes=M` asks for about M bytes instead (at most MAX_JUMP_BYTES: a jump to a line anchor)
 *
 * Offsets are the byte offsets the runner gave its chunks, so a range never splits a character:
 * it starts at a chunk start or just after a newline and ends at a chunk end or at `before`.
 * `times` is `[offset, at]` per chunk the range touches (byte offset where the chunk starts, the
 * time it was received, ms since the epoch): a line's time is that of the chunk holding its
 * first byte. The page's "times" toggle shows them; without JavaScript, `?times=1` on the build
 * page puts them in front of the plain tail's lines.
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Store } from '../store/index.js';
import type { LogPiece, PageStore } from '../store/pages.js';
import { fail } from '../errors.js';
import { parseOrThrow } from './api.js';

export const TAIL_BYTES = 256 * 1024; // what a log view shows first
export const MAX_RANGE_BYTES = 1024 * 1024; // at most this much (plus one chunk) per answer
export const MAX_JUMP_BYTES = 4 * 1024 * 1024;
export const NOSCRIPT_TAIL_BYTES = 16 * 1024; // the plain-text tail rendered into the page for browsers without JavaScript

export interface LogRange {
  unit: number; from: number; to: number; line: number; text: string; size: number; done: boolean; times: [number, number][];
}

const RangeQuery = z.object({
  from: z.coerce.number().int().min(0).optional(),
  before: z.coerce.number().int().min(0).optional(),
  bytes: z.coerce.number().int().min(1024).max(MAX_JUMP_BYTES).optional(),
});

export function logRouter(deps: { store: Pick<Store, 'units'>; pages: PageStore }): Router {
  const { store, pages } = deps;
  const r = express.Router();
  r.get('/units/:id/log', (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'unit id');
    const q = parseOrThrow(RangeQuery, req.query, 'query');
    const unit = store.units.get(id) ?? fail('GG_NOT_FOUND', `no unit ${id}`);
    const range = q.from !== undefined ? readFrom(pages, id, q.from, MAX_RANGE_BYTES)
      : readBefore(pages, id, q.before ?? Number.MAX_SAFE_INTEGER, q.bytes ?? TAIL_BYTES);
    res.set('cache-control', 'no-store').json({ ...range, done: unit.state === 'done' } satisfies LogRange);
  });
  return r;
}

/** Bytes from `from` on, whole chunks, about `max` at most. */
export function readFrom(pages: PageStore, unitId: number, from: number, max: number): Omit<LogRange, 'done'> {
  const size = pages.logSize(unitId);
  const start = pages.chunkAt(unitId, from);
  if (!start || from >= size) return { unit: unitId, from: Math.min(from, size), to: Math.min(from, size), line: 0, text: '', size, times: [] };
  const pieces = pages.readChunks(unitId, start.seq, (_p, bytes) => bytes >= max + (from - start.offset));
  const all = concat(pieces);
  const buf = all.subarray(from - start.offset);
  return { unit: unitId, from, to: from + buf.length, line: lineAt(pages, unitId, start.seq, all.subarray(0, from - start.offset)),
    text: buf.toString('utf8'), size, times: timesOf(pieces) };
}

/** About `max` bytes ending at `before` (or the end), starting at a line start unless at 0. */
export function readBefore(pages: PageStore, unitId: number, before: number, max: number): Omit<LogRange, 'done'> {
  const size = pages.logSize(unitId);
  const end = Math.min(before, size);
  const start = pages.chunkAt(unitId, Math.max(0, end - max));
  if (!start || end === 0) return { unit: unitId, from: 0, to: 0, line: 1, text: '', size, times: [] };
  const pieces = pages.readChunks(unitId, start.seq, (p) => p.offset >= end);
  const all = concat(pieces).subarray(0, end - start.offset);
  let skip = 0;
  if (start.offset > 0) {
    const nl = all.indexOf(10);
    if (nl >= 0 && nl < all.length - 1) skip = nl + 1;
  }
  const from = start.offset + skip;
  return { unit: unitId, from, to: end, line: lineAt(pages, unitId, start.seq, all.subarray(0, skip)),
    text: all.subarray(skip).toString('utf8'), size, times: timesOf(pieces) };
}

function timesOf(pieces: readonly LogPiece[]): [number, number][] {
  return pieces.map((p) => [p.offset, p.at]);
}

/**
 * The plain tail for the page itself (no JavaScript): ANSI sequences removed; with `withTimes`
 * each line starts with the UTC time its first byte was received (`12:03:04.567 `).
 */
export function plainTail(pages: PageStore, unitId: number, withTimes = false): { text: string; from: number } {
  const r = readBefore(pages, unitId, Number.MAX_SAFE_INTEGER, NOSCRIPT_TAIL_BYTES);
  return { text: withTimes ? stampLines(r.text, r.from, r.times) : stripAnsi(r.text), from: r.from };
}

/** Puts each line's time in front of it; `times` are [chunk start offset, at], in order. */
export function stampLines(text: string, from: number, times: readonly [number, number][]): string {
  const lines = text.split('\n');
  const last = lines.length - 1;
  let offset = from;
  let chunk = 0;
  return lines.map((line, i) => {
    if (i === last && line === '') return line;
    while (chunk + 1 < times.length && times[chunk + 1]![0] <= offset) chunk++;
    const at = times[chunk]?.[1];
    offset += Buffer.byteLength(line) + 1;
    return `${at === undefined ? '' : `${new Date(at).toISOString().slice(11, 23)} `}${stripAnsi(line)}`;
  }).join('\n');
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-_]/g, '');
}

function concat(pieces: readonly LogPiece[]): Buffer {
  return Buffer.concat(pieces.map((p) => Buffer.from(p.data, 'utf8')));
}

/** 1-based number of the line after `head`, the bytes skipped from the start of chunk `seq`. */
function lineAt(pages: PageStore, unitId: number, seq: number, head: Buffer): number {
  let n = pages.newlinesBefore(unitId, seq);
  for (let i = head.indexOf(10); i >= 0; i = head.indexOf(10, i + 1)) n++;
  return n + 1;
}
