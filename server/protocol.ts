/**
 * The runner ⇄ server protocol. Both sides import this module and nothing else across the
 * boundary.
 *
 * Lifecycle (one WebSocket per runner, JSON text frames):
 *   runner → hello (token, protocol version, name, slots, labels, units it still holds)
 *   server → welcome (runner id, heartbeat interval, units it must drop) or a close frame
 *   server → assign (one unit; as many as the runner has free slots)
 *   runner → started, log* (seq + byte offset), finished (exit code, tests)
 *   server → ack (per log chunk, once stored; per finished, once recorded)
 *   server → cancel (unit); runner → heartbeat every HEARTBEAT_MS
 * A runner silent for LOST_AFTER_MS is lost: the server closes it and requeues its units.
 * Log chunks are resent until acked; the server stores a (unit, seq) once, so a resend is
 * harmless. A message about a unit the runner does not hold is refused (`refuse`).
 *
 * Bump PROTOCOL_VERSION on any change to the messages below.
 * Version 2: hello carries `labels` (optional, default {}); assign's `repo.url` is a path on this
 * server (`/git/<name>.git`, resolved against the runner's server URL, fetched with the runner
 * token) or a repository's own clone URL — never a path on the server's disk.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 2;
export const WS_PATH = '/ws/runner';
export const MAX_FRAME_BYTES = 1024 * 1024; // 1 MiB: a log chunk is at most MAX_CHUNK_BYTES
export const MAX_CHUNK_BYTES = 64 * 1024; // 64 KiB of log text per chunk
export const HEARTBEAT_MS = 5_000; // 5 seconds
export const LOST_AFTER_MS = 15_000; // 15 seconds without a frame
export const HELLO_TIMEOUT_MS = 5_000; // first frame must be hello within 5 seconds

/** WebSocket close codes the server sends, with a stable meaning. */
export const CloseCode = {
  normal: 1000,
  badFrame: 1007, // not JSON, or not a valid message
  policy: 1008,
  tooBig: 1009, // frame over MAX_FRAME_BYTES (sent by ws itself)
  unauthorized: 4001,
  protocolVersion: 4002,
  helloTimeout: 4003,
  heartbeatTimeout: 4004,
  replaced: 4005, // another connection with the same runner name
  shuttingDown: 4006,
} as const;

const id = z.number().int().positive();
const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-character hex commit id');
const name = z.string().min(1).max(100).regex(/^[A-Za-z0-9._@:-]+$/, 'letters, digits and . _ @ : -');

/** Runner labels (`--label os=linux`) and a builder's `runsOn:` use the same rules. */
export const MAX_LABELS = 32;
export const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
export const LABEL_VALUE_RE = /^[A-Za-z0-9._/:-]{1,100}$/;
export const LABEL_RULES = 'a key of letters, digits and . _ / - (at most 63, starting with a letter or digit) and a value of ' +
  'letters, digits and . _ / : - (1 to 100)';
export const LabelsSchema = z.record(z.string(), z.string().regex(LABEL_VALUE_RE, `label values: ${LABEL_RULES}`))
  .superRefine((l, ctx) => {
    const keys = Object.keys(l);
    const bad = keys.find((k) => !LABEL_KEY_RE.test(k));
    if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `label key "${bad.slice(0, 70)}": ${LABEL_RULES}` });
    if (keys.length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} labels` });
  });
export type Labels = Readonly<Record<string, string>>;

/** Parses `key=value` (a --label flag); throws an Error saying what is wrong. */
export function parseLabel(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? '' : text.slice(eq + 1);
  if (eq < 0 || !LABEL_KEY_RE.test(key) || !LABEL_VALUE_RE.test(value)) {
    throw new Error(`--label "${text}" is not key=value with ${LABEL_RULES}, e.g. --label os=linux`);
  }
  return [key, value];
}

/** Whether a runner with `labels` may take work that needs `needs` (every key with the same value). */
export function labelsMatch(labels: Labels | undefined, needs: Labels | undefined): boolean {
  if (!needs) return true;
  for (const [k, v] of Object.entries(needs)) if (labels?.[k] !== v) return false;
  return true;
}

export const TestCaseSchema = z.object({
  name: z.string().max(2000),
  classname: z.string().max(2000).default(''),
  file: z.string().max(4096).nullable().default(null),
  durationMs: z.number().nonnegative().max(1e9),
  status: z.enum(['passed', 'failed', 'error', 'skipped']),
  message: z.string().max(65536).nullable().default(null),
});
export type TestCase = z.infer<typeof TestCaseSchema>;

const Hello = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int(),
  token: z.string().max(1024),
  name,
  slots: z.number().int().min(1).max(64),
  version: z.string().max(100),
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
});

export const RunnerMessageSchema = z.discriminatedUnion('type', [Hello, Heartbeat, Started, Log, Finished]);
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;
export type HelloMessage = z.infer<typeof Hello>;
export type LogMessage = z.infer<typeof Log>;
export type FinishedMessage = z.infer<typeof Finished>;

const BuilderSpec = z.strictObject({
  name: z.string(),
  setup: z.string().nullable(),
  run: z.string(),
  junit: z.string().nullable(),
  timeout: z.number().positive(),
});
const Welcome = z.strictObject({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  runnerId: id,
  heartbeatMs: z.number().int().positive(),
  drop: z.array(id),
});
const Assign = z.strictObject({
  type: z.literal('assign'),
  unit: id,
  build: id,
  /**
   * url: where to fetch (see Version 2 above). path: the bare repository on the server's disk; a
   * runner on the same host that can read it and finds the commit there may use it instead of
   * fetching (absent: always fetch).
   */
  repo: z.strictObject({ name: z.string(), url: z.string(), path: z.string().optional() }),
  ref: z.string(),
  branch: z.string(),
  sha,
  builder: BuilderSpec,
  files: z.array(z.string()),
  attempt: z.number().int().positive(),
});
const Ack = z.strictObject({ type: z.literal('ack'), unit: id, seq: z.number().int().nonnegative() });
const AckFinished = z.strictObject({ type: z.literal('ackFinished'), unit: id });
const Cancel = z.strictObject({ type: z.literal('cancel'), unit: id, reason: z.string() });
const Refuse = z.strictObject({ type: z.literal('refuse'), unit: id, reason: z.string() });

export const ServerMessageSchema = z.discriminatedUnion('type', [Welcome, Assign, Ack, AckFinished, Cancel, Refuse]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type AssignMessage = z.infer<typeof Assign>;
export type BuilderSpecMessage = z.infer<typeof BuilderSpec>;

export class ProtocolError extends Error {
  readonly code = 'GG_PROTOCOL_BAD_FRAME';
  readonly closeCode = CloseCode.badFrame;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(frame)'}: ${i.message}`)
    .join('; ');
}

function parseFrame<T>(raw: string | Buffer, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new ProtocolError('frame is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const type = (value as { type?: unknown } | null)?.type;
    throw new ProtocolError(`invalid ${typeof type === 'string' ? `"${type.slice(0, 40)}"` : ''} message: ${describeIssues(parsed.error)}`.replace('  ', ' '));
  }
  return parsed.data;
}

/** Parses a frame a runner sent; throws ProtocolError naming what is wrong. */
export function parseRunnerMessage(raw: string | Buffer): RunnerMessage {
  return parseFrame(raw, RunnerMessageSchema);
}

/** Parses a frame the server sent; throws ProtocolError naming what is wrong. */
export function parseServerMessage(raw: string | Buffer): ServerMessage {
  return parseFrame(raw, ServerMessageSchema);
}

/** A WebSocket close reason is at most 123 bytes. */
export function closeReason(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= 123 ? text : buf.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}
