/**
 * How the server's log looks: pino's JSON lines (one object a line, for machines: journald,
 * Loki, jq), or human lines when someone watches the terminal. `chooseLogFormat` picks: the
 * GREENGATE_LOG_FORMAT environment variable (`json` or `human`) when set, else human when the
 * log's file descriptor is a TTY, else JSON. `humanStream` turns each JSON line into
 * `HH:MM:SS LEVEL name: message key=value …` (local time); a line it cannot read passes unchanged.
 * No dependency: pino-pretty is not installed.
 */
import { fail } from './errors.js';

export type LogFormat = 'json' | 'human';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, printed in the line's head or not at all. */
const HEAD = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);

/** The log format: `env` (GREENGATE_LOG_FORMAT) when set, else human on a TTY, else JSON. */
export function chooseLogFormat(env: string | undefined, isTTY: boolean): LogFormat {
  if (env === undefined || env === '') return isTTY ? 'human' : 'json';
  if (env === 'json' || env === 'human') return env;
  fail('GG_USAGE', `GREENGATE_LOG_FORMAT is "json" or "human" (or unset: human on a terminal, JSON otherwise), not "${env}"`);
}

/** One pino JSON line (without its newline) as a human line, with a newline; other text unchanged. */
export function humanLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${line}\n`;
  }
  if (o === null || typeof o !== 'object' || typeof o.level !== 'number') return `${line}\n`;
  const time = typeof o.time === 'number' ? new Date(o.time).toTimeString().slice(0, 8) : '';
  const level = (LEVELS[o.level] ?? String(o.level)).padEnd(5);
  const fields = Object.entries(o).filter(([k]) => !HEAD.has(k)).map(([k, v]) => `${k}=${fieldText(v)}`);
  const head = [time, level, o.name ? `${String(o.name)}:` : ''].filter(Boolean).join(' ');
  return `${head} ${typeof o.msg === 'string' ? o.msg : ''}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
    const err = v as { type?: string; message: string; stack?: string };
    return JSON.stringify(err.stack ?? `${err.type ?? 'Error'}: ${err.message}`);
  }
  return JSON.stringify(v) ?? String(v);
}

/** A log destination that writes human lines to `dest`. */
export function humanStream(dest: { write(text: string): unknown }): { write(line: string): boolean } {
  return { write: (line: string) => { dest.write(humanLine(line.endsWith('\n') ? line.slice(0, -1) : line)); return true; } };
}
