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
import { ERRORS, GgError, fail } from './errors.js';

// The error catalogue, for the runner (which imports nothing else from the server).
export { ERRORS, GgError, fail, type ClosingCode, type ErrorCode } from './errors.js';
import { redactStrings } from './redaction.js';

export const PROTOCOL_VERSION = 4;
export const WS_PATH = '/ws/runner';
/** Where this server serves each repository's code to runners (`GIT_PATH/<name>.git`; web/gitHttp.ts). */
export const GIT_PATH = '/git';
/** An assign's `repo.url`: the repository's own `cloneUrl`, else its path on this server (resolved against the server URL). */
export function cloneUrlOf(repo: { name: string; cloneUrl?: string | null }): string {
  return repo.cloneUrl ?? `${GIT_PATH}/${encodeURIComponent(repo.name)}.git`;
}
export const MAX_FRAME_BYTES = 1024 * 1024; // 1 MiB: a log chunk is at most MAX_CHUNK_BYTES
export const MAX_CHUNK_BYTES = 64 * 1024; // 64 KiB of log text per chunk
export const HEARTBEAT_MS = 5_000; // 5 seconds
export const LOST_AFTER_MS = 15_000; // 15 seconds without a frame
export const MAX_CACHE_ITEMS = 32; // cache entries per builder, and paths or keys per entry
export const HELLO_TIMEOUT_MS = 5_000; // first frame must be hello within 5 seconds
export const DEFAULT_MAX_LOG_BYTES = 32 * 1024 * 1024; // 32 MiB of log per unit
export const MARKER_ROOM_BYTES = 1024; // room past the cap for the runner's truncation marker
// What counts as a secret's appearance, and how it is redacted: both sides use this rule.
export {
  MIN_SECRET_LENGTH, REDACTED, Redactor, SecretMatcher, redactionPatterns, redactStrings, type Piece,
} from './redaction.js';
// How URLs appear in logs and errors (credentials, query and fragment values masked): both sides use this rule.
export { maskUrls } from './urlMask.js';
export const MAX_RETRY_AFTER_MS = 600_000; // a retry is asked for at most 10 minutes later

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

/** Parses `key=value` (a --label flag); throws GG_USAGE saying what is wrong. */
export function parseLabel(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? '' : text.slice(eq + 1);
  if (eq < 0 || !LABEL_KEY_RE.test(key) || !LABEL_VALUE_RE.test(value)) {
    fail('GG_USAGE', `--label "${text}" is not key=value with ${LABEL_RULES}, e.g. --label os=linux`);
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

/** A workspace-relative path or glob: not absolute, no ".." and nothing inside .git (config and runner both check). */
export function isWorkspacePattern(s: string): boolean {
  const parts = s.replace(/\/+$/, '').split('/');
  return !s.startsWith('/') && !parts.includes('..') && !parts.includes('.git') && s.replace(/[/.*]/g, '') !== '';
}
const workspacePattern = z.string().min(1).max(1000).refine(isWorkspacePattern, 'a path relative to the workspace, without ".." or ".git"');

/**
 * An artifact's path: relative to the workspace, normalized (no "", "." or ".." segment, no "//",
 * no trailing "/"), not inside .git, no backslash or control character, at most 1000 characters.
 * The server refuses an upload to any other path; the runner downloads only to such paths.
 */
export function isArtifactPath(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0 || p.length > 1000 || /[\\\x00-\x1f\x7f]/.test(p)) return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..' && part !== '.git');
}
/** Where a runner uploads one artifact of a unit (PUT, body: the file, Content-Length required). */
export function artifactUploadPath(unit: number, path: string): string {
  return `/api/units/${unit}/artifacts?path=${encodeURIComponent(path)}`;
}
export const ArtifactRefSchema = z.strictObject({
  path: z.string().refine(isArtifactPath, 'a normalized path relative to the workspace'),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 hex characters'),
  /** Where to GET it: a path on this server (resolved against the runner's server URL). */
  url: z.string().max(2000),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

/** What a unit's sandbox opens beyond its workspace (runner/sandbox.ts); absent: network on, nothing else. */
export const MAX_SANDBOX_PATHS = 32;
const sandboxPath = z.string().min(2).max(1000).refine((p) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'),
  'an absolute path without ".."');
export const SandboxSpecSchema = z.strictObject({
  network: z.boolean(),
  readOnly: z.array(sandboxPath).max(MAX_SANDBOX_PATHS),
  writable: z.array(sandboxPath).max(MAX_SANDBOX_PATHS),
  keepProcesses: z.boolean(),
});
export type SandboxSpec = z.infer<typeof SandboxSpecSchema>;

const BuilderSpec = z.strictObject({
  name: z.string(),
  setup: z.string().nullable(),
  run: z.string(),
  junit: z.string().nullable(),
  timeout: z.number().positive(),
  /** Names of the runner's environment variables the unit may see (beyond the allowlist). */
  env: z.array(z.string().max(200)).max(100).optional(),
  /** Secret values for this unit only, by environment variable name. */
  secrets: z.record(z.string().max(200), z.string().max(65536)).optional(),
  /** Set when the server could not read a secret: the runner does not run the unit. */
  secretsError: z.string().max(4096).optional(),
  /** The build's params (name → value; issue 23): set in the unit's environment. Absent: none (a runner before params refuses the key). */
  params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(256)).optional(),
  /** Log bytes the unit may send (DEFAULT_MAX_LOG_BYTES when absent). */
  maxLogBytes: z.number().int().positive().optional(),
  /** What the slot keeps between builds; null: the runner's defaults for node and python (v2). */
  cache: z.array(z.strictObject({
    paths: z.array(workspacePattern).min(1).max(MAX_CACHE_ITEMS),
    key: z.array(workspacePattern).min(1).max(MAX_CACHE_ITEMS),
  })).max(MAX_CACHE_ITEMS).nullable().default(null),
  /** Run instead of setup when every cache entry was kept; null: skip setup then (v2). */
  setupOnHit: z.string().nullable().default(null),
  /** The unit's sandbox (v3; absent: runner/sandbox.ts DEFAULT_POLICY). */
  sandbox: SandboxSpecSchema.optional(),
  /** A matrix step's variables (issue 23), set in the unit's environment; absent: none. */
  vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(200), z.string().max(4096)).optional(),
  /** Globs of workspace files to upload when the unit ends (v4; absent: none). */
  artifacts: z.array(workspacePattern).max(32).optional(),
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
  /** This unit's credential for the server's git HTTP (v3), valid while the unit runs; absent: use the runner token. */
  unitToken: z.string().regex(/^[0-9a-f]{64}$/, '64 hex characters').optional(),
  /** Files of earlier steps to download into the workspace before setup (v4; absent: none). */
  artifacts: z.array(ArtifactRefSchema).max(10_000).optional(),
});
const Ack = z.strictObject({ type: z.literal('ack'), unit: id, seq: z.number().int().nonnegative() });
const AckFinished = z.strictObject({ type: z.literal('ackFinished'), unit: id });
const Cancel = z.strictObject({ type: z.literal('cancel'), unit: id, reason: z.string() });
const Refuse = z.strictObject({ type: z.literal('refuse'), unit: id, reason: z.string() });
const Retry = z.strictObject({
  type: z.literal('retry'), unit: id, afterMs: z.number().int().nonnegative().max(MAX_RETRY_AFTER_MS), reason: z.string().max(1000),
});

export const ServerMessageSchema = z.discriminatedUnion('type', [Welcome, Assign, Ack, AckFinished, Cancel, Refuse, Retry]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type AssignMessage = z.infer<typeof Assign>;
export type RetryMessage = z.infer<typeof Retry>;
export type BuilderSpecMessage = z.infer<typeof BuilderSpec>;

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
