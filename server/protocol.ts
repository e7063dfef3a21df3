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
 *   server → retry (unit, afterMs): something sent for that unit (a log chunk, `finished`) was
 *            not stored (the server cannot write its database); the runner keeps it and sends
 *            everything unacked for the unit again after afterMs. The server sends retry with
 *            afterMs 0 when it can store again. (Since protocol 2.)
 * A runner silent for LOST_AFTER_MS is lost: the server closes it and requeues its units.
 * Log chunks are resent until acked; the server stores a (unit, seq) once, so a resend is
 * harmless. A message about a unit the runner does not hold is refused (`refuse`).
 *
 * Handshake: the server reads `type` and `protocol` of the first frame leniently before anything
 * else (peekHello), so a newer runner whose hello has fields this server does not know is told
 * 4002 with both versions, never 1007. Then every frame is validated strictly. The runner exits
 * on 4001 (token), 4002 (version) and 4007 (its name is held by another live runner instance).
 *
 * Identity: a runner keeps a random `instance` id in its work directory. A hello whose name is
 * held by a live connection of the same instance replaces that connection (4005, a reconnect);
 * of another or no instance it is refused with 4007 and the live runner keeps its units.
 *
 * Secrets: `assign` carries the builder's `secrets` (name → value) for that unit only; the runner
 * puts them in the unit's environment and redacts their values (6 characters or more; also
 * base64, hex, or split by line breaks: redaction.ts) from every string the unit reports — its
 * log (stdout and stderr merged before redaction) and every string of `finished` (test names,
 * classnames, files, messages, errors) — before any byte leaves it. The server redacts both
 * again, with every secret it knows, before storing.
 *
 * Log size: a unit's log is capped at `builder.maxLogBytes` (DEFAULT_MAX_LOG_BYTES). The runner
 * sends output up to the cap, then one `sys` marker line, then nothing more; the server stores at
 * most the cap plus MARKER_ROOM_BYTES (bytes past that are acked but dropped).
 *
 * Chunk count: `finished.chunks` says how many log chunks (seq 0..chunks-1) the runner sent for
 * the unit. Frames on one socket arrive in order and the runner sends every chunk before
 * `finished`, so when it arrives the server must hold exactly those chunks. If it does not, the
 * unit's log is incomplete: the unit ends `exception` ("log incomplete: …") and is queued again
 * like a lost unit (it never counts as passed or failed on missing evidence).
 *
 * The messages are defined in server/protocol/ (fields.ts: caps and shared shapes; runnerMessages.ts;
 * serverMessages.ts) and re-exported here: import them from this module.
 *
 * Bump PROTOCOL_VERSION on any change to the messages below.
 * Version 2: hello carries `labels` (optional, default {}); finished may carry `fileTimes`
 * (optional; each file's wall time from its JUnit suites); assign's `repo.url` is a path on this
 * server (`/git/<name>.git`, resolved against the runner's server URL, fetched with the runner
 * token) or a repository's own clone URL — never a path on the server's disk.
 * Version 3: assign carries `unitToken`, a random credential for that unit only (the runner fetches
 * the unit's code with it instead of its own token; the server's git HTTP accepts it for the
 * unit's repository while the unit runs); `builder.sandbox` says what the unit's sandbox opens
 * (network, readOnly and writable paths, keepProcesses for deploy stages; runner/sandbox.ts).
 * Version 4 (issue 23 item 6): assign's `builder.params` (optional) holds the build's params
 * (name → value), which the runner sets in the unit's environment, never over greengate's own
 * variables, the allowlist, the builder's `env:` names or its secrets.
 * Also version 4 (issue 23 item 2): `builder.artifacts` (globs): the runner uploads the matching workspace files over
 * HTTP (`PUT ARTIFACT_UPLOAD_PATH`, with the unitToken) BEFORE it sends `finished`, so a unit's
 * end means its artifacts are stored; `assign.artifacts` lists files of earlier steps the runner
 * downloads into the workspace (sha256 checked) before setup; `finished.artifactsFailed` says an
 * upload was refused (a size limit: `error` says which file) — the unit fails (runner/artifacts.ts).
 */
import { z } from 'zod';
import { ERRORS, GgError } from './errors.js';

// The error catalogue, for the runner (which imports nothing else from the server).
export { ERRORS, GgError, fail, type ClosingCode, type ErrorCode } from './errors.js';
import { RunnerMessageSchema, type RunnerMessage } from './protocol/runnerMessages.js';
import { ServerMessageSchema, type ServerMessage } from './protocol/serverMessages.js';

// The messages and the fields they share live in server/protocol/; both sides import them from here.
export {
  DEFAULT_MAX_LOG_BYTES, HEARTBEAT_MS, HELLO_TIMEOUT_MS, isWorkspacePattern, LABEL_KEY_RE, LABEL_RULES, LABEL_VALUE_RE, labelsMatch,
  LabelsSchema, LOST_AFTER_MS, MARKER_ROOM_BYTES, MAX_CACHE_ITEMS, MAX_CHUNK_BYTES, MAX_FRAME_BYTES, MAX_LABELS, MAX_RETRY_AFTER_MS,
  parseLabel, type Labels,
} from './protocol/fields.js';
export * from './protocol/runnerMessages.js';
export * from './protocol/serverMessages.js';

export const PROTOCOL_VERSION = 4;
export const WS_PATH = '/ws/runner';
/** Where this server serves each repository's code to runners (`GIT_PATH/<name>.git`; web/gitHttp.ts). */
export const GIT_PATH = '/git';
/** An assign's `repo.url`: the repository's own `cloneUrl`, else its path on this server (resolved against the server URL). */
export function cloneUrlOf(repo: { name: string; cloneUrl?: string | null }): string {
  return repo.cloneUrl ?? `${GIT_PATH}/${encodeURIComponent(repo.name)}.git`;
}
// What counts as a secret's appearance, and how it is redacted: both sides use this rule.
export {
  MIN_SECRET_LENGTH, REDACTED, Redactor, SecretMatcher, redactionPatterns, redactStrings, type Piece,
} from './redaction.js';
// How URLs appear in logs and errors (credentials, query and fragment values masked): both sides use this rule.
export { maskUrls } from './urlMask.js';

/** WebSocket close codes either side sends, with a stable meaning: each derived from its code in the error catalogue. */
export const CloseCode = {
  normal: 1000, // a normal closure (not an error): the runner stopping
  badFrame: ERRORS.GG_PROTOCOL_BAD_FRAME.close, // 1007: not JSON, or not a valid message
  policy: ERRORS.GG_PROTOCOL_ORDER.close, // 1008: a frame out of order
  tooBig: ERRORS.GG_FRAME_TOO_BIG.close, // 1009: frame over MAX_FRAME_BYTES (sent by ws itself)
  internal: ERRORS.GG_INTERNAL.close, // 1011: the server failed handling a message
  unauthorized: ERRORS.GG_RUNNER_TOKEN.close, // 4001
  protocolVersion: ERRORS.GG_PROTOCOL_VERSION.close, // 4002
  helloTimeout: ERRORS.GG_HELLO_TIMEOUT.close, // 4003
  heartbeatTimeout: ERRORS.GG_RUNNER_SILENT.close, // 4004
  replaced: ERRORS.GG_RUNNER_REPLACED.close, // 4005: another connection with the same runner name and instance
  shuttingDown: ERRORS.GG_SHUTTING_DOWN.close, // 4006
  nameInUse: ERRORS.GG_RUNNER_NAME_IN_USE.close, // 4007: the name is held by a live runner with another instance id
  tooSlow: ERRORS.GG_LIVE_TOO_SLOW.close, // 4008: a live page socket that fell behind
  tooManyGuesses: ERRORS.GG_RUNNER_TOKEN_GUESSES.close, // 4029: too many wrong runner tokens from this address; later
  tryAgainLater: ERRORS.GG_TRY_AGAIN_LATER.close, // 1013: the server cannot store anything now (disk full); reconnect later
} as const;


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
    throw new GgError('GG_PROTOCOL_BAD_FRAME', 'frame is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const type = (value as { type?: unknown } | null)?.type;
    throw new GgError('GG_PROTOCOL_BAD_FRAME', `invalid ${typeof type === 'string' ? `"${type.slice(0, 40)}"` : ''} message: ${describeIssues(parsed.error)}`.replace('  ', ' '));
  }
  return parsed.data;
}

/**
 * The first look at a runner's first frame, before strict validation: its `type` and `protocol`
 * if it is a JSON object carrying them, so a version mismatch is told as such whatever else the
 * frame holds. Returns null for anything else (strict parsing then names the problem).
 */
export function peekHello(raw: string | Buffer): { type: unknown; protocol: unknown } | null {
  try {
    const value: unknown = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    const { type, protocol } = value as { type?: unknown; protocol?: unknown };
    return { type, protocol };
  } catch {
    return null;
  }
}

/** Parses a frame a runner sent; throws GgError GG_PROTOCOL_BAD_FRAME (close code 1007) naming what is wrong. */
export function parseRunnerMessage(raw: string | Buffer): RunnerMessage {
  return parseFrame(raw, RunnerMessageSchema);
}

/** Parses a frame the server sent; throws GgError GG_PROTOCOL_BAD_FRAME naming what is wrong. */
export function parseServerMessage(raw: string | Buffer): ServerMessage {
  return parseFrame(raw, ServerMessageSchema);
}

/** A WebSocket close reason is at most 123 bytes. */
export function closeReason(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= 123 ? text : buf.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}