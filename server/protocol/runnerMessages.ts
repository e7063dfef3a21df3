/**
 * What a runner sends the server (server/protocol.ts holds the lifecycle; import from there):
 * hello, heartbeat, started, log, finished, and the redaction rule for `finished`.
 */
import { z } from 'zod';
import { redactStrings } from '../redaction.js';
import { id, LabelsSchema, MAX_CHUNK_BYTES, name } from './fields.js';

export const TestCaseSchema = z.object({
  name: z.string().max(2000),
  classname: z.string().max(2000).default(''),
  file: z.string().max(4096).nullable().default(null),
  durationMs: z.number().nonnegative().max(1e9),
  status: z.enum(['passed', 'failed', 'error', 'skipped']),
  message: z.string().max(65536).nullable().default(null),
});
export type TestCase = z.infer<typeof TestCaseSchema>;

/** One test file's wall time in a `finished` message (`file` as TestCase.file names it). */
export const FileTimeSchema = z.strictObject({
  file: z.string().min(1).max(4096),
  ms: z.number().nonnegative().max(1e9),
});
export type FileTime = z.infer<typeof FileTimeSchema>;

const Hello = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int(),
  token: z.string().max(1024),
  name,
  slots: z.number().int().min(1).max(64),
  /** The runner machine's CPUs (absent from older runners): the build page names them when slots contend. */
  cpus: z.number().int().min(1).max(4096).optional(),
  version: z.string().max(100),
  /** The runner's random instance id, kept in its work directory (absent: an anonymous instance). */
  instance: z.string().regex(/^[0-9a-f]{16,64}$/, '16 to 64 lowercase hex characters').optional(),
  /** What this runner offers (`--label key=value`); builders pick runners with `runsOn:`. */
  labels: LabelsSchema.default({}),
  /** Units this runner still runs or has finished without an ack (after a reconnect). */
  units: z.array(z.strictObject({ unit: id, finished: z.boolean() })).max(64).default([]),
});
const Heartbeat = z.strictObject({ type: z.literal('heartbeat') });
const Started = z.strictObject({ type: z.literal('started'), unit: id, at: z.number() });
const Log = z.strictObject({
  type: z.literal('log'),
  unit: id,
  seq: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  stream: z.enum(['out', 'err', 'sys']),
  data: z.string().max(MAX_CHUNK_BYTES),
});
const Finished = z.strictObject({
  type: z.literal('finished'),
  unit: id,
  exitCode: z.number().int().nullable(),
  signal: z.string().max(20).nullable(),
  timedOut: z.boolean(),
  error: z.string().max(4096).nullable(),
  /** Log chunks sent for this unit in all (so the server can tell the log is whole). */
  chunks: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
  tests: z.array(TestCaseSchema).max(100_000).default([]),
  testsError: z.string().max(4096).nullable().default(null),
  /** Time from taking the unit to starting `run`: checkout, clean and setup (v2). */
  setupMs: z.number().nonnegative().max(1e9).nullable().default(null),
  /** Whether the slot's cache was kept (true) or rebuilt (false); null: no cache, or set up by an earlier unit (v2). */
  cacheHit: z.boolean().nullable().default(null),
  /**
   * Each test file's wall time as its JUnit suites report it, module loading included (v2,
   * optional: absent from older runners). The server learns a file's duration from it instead of
   * the sum of its test cases (results/results.ts).
   */
  fileTimes: z.array(FileTimeSchema).max(100_000).optional(),
  /** An artifact upload was refused or failed (v4): the unit fails, `error` says which file and why. */
  artifactsFailed: z.boolean().optional(),
});

/**
 * `msg` with every string the unit reported (test names, classnames, files, messages, errors,
 * file times' files; anything but `type` and `status`) passed through `redact`, then cut to this
 * schema's lengths again (a redaction may lengthen a short secret). Runner and server both use it.
 */
export function redactFinished(msg: FinishedMessage, redact: (s: string) => string): FinishedMessage {
  const r = redactStrings(msg, redact);
  const cut = <S extends string | null>(s: S, max: number): S => (s !== null && s.length > max ? s.slice(0, max) as S : s);
  return {
    ...r, error: cut(r.error, 4096), testsError: cut(r.testsError, 4096), signal: cut(r.signal, 20),
    tests: r.tests.map((t) => ({ ...t, name: cut(t.name, 2000), classname: cut(t.classname, 2000), file: cut(t.file, 4096), message: cut(t.message, 65536) })),
    ...(r.fileTimes ? { fileTimes: r.fileTimes.map((f) => ({ ...f, file: cut(f.file, 4096) })) } : {}),
  };
}

export const RunnerMessageSchema = z.discriminatedUnion('type', [Hello, Heartbeat, Started, Log, Finished]);
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;
export type HelloMessage = z.infer<typeof Hello>;
export type LogMessage = z.infer<typeof Log>;
export type FinishedMessage = z.infer<typeof Finished>;
