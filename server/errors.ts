/**
 * The error catalogue: every error the server reports to a caller has a stable code here, with
 * its HTTP status and, where it ends a WebSocket, its close code. Throw `fail(code, message)`
 * (or `new GgError(code, message)`); the web layer renders any GgError as
 * `{ error: { code, message } }` for /api/* and as an error page for HTML, 5xx logged at error
 * and 4xx at info. Messages say what is wrong and how to fix it.
 *
 * This is the only place codes live: the runner's codes too (runner/ reads the catalogue through
 * protocol.ts, the one server module it may import), and every WebSocket close code either side
 * sends (protocol.ts CloseCode and the live page socket derive theirs from `close` here; only
 * 1000, a normal closure, is not an error). Add a code here before using it; tests check that
 * every code written in server/ and runner/ is catalogued, that close codes are unique, and that
 * no bare Error is thrown outside a short allowlist of programming errors.
 */

export interface ErrorSpec {
  /** HTTP status when it answers a request. */
  status: number;
  /** WebSocket close code when it ends a runner or page socket. */
  close?: number;
  /** What it means, for the docs and for a reader of a log. */
  meaning: string;
}

export const ERRORS = {
  // requests
  GG_BAD_REQUEST: { status: 400, meaning: 'a parameter or body field is missing or malformed' },
  GG_BAD_BODY: { status: 400, meaning: 'the request body is not what the route expects' },
  GG_BODY_TOO_LARGE: { status: 413, meaning: 'the request body is over the route\'s size limit' },
  GG_BAD_SHA: { status: 400, meaning: 'a commit id is not 40 hex characters' },
  GG_BAD_REF: { status: 400, meaning: 'a ref name is not a full ref (refs/heads/…)' },
  GG_BAD_BRANCH: { status: 400, meaning: 'a branch name git would not accept' },
  GG_MESSAGE_REQUIRED: { status: 400, meaning: 'closing the tree needs a message' },
  GG_GATE_BAD_REQUEST: { status: 400, meaning: 'the pre-receive hook sent a body this server cannot read' },
  GG_GATE_TOO_LARGE: { status: 413, meaning: 'a push over one of the gate\'s caps (body, message, options, line)' },
  GG_NOT_FOUND: { status: 404, meaning: 'no such route, build, unit or test' },
  GG_UNKNOWN_REPO: { status: 404, meaning: 'the repository is not in greengate.yml' },
  GG_UNKNOWN_BUILDER: { status: 409, meaning: 'the builder is no longer in greengate.yml' },
  GG_NO_BUILDER: { status: 404, meaning: 'the repository has no builder of that name in greengate.yml' },
  GG_NOT_GATED: { status: 404, meaning: 'the branch is not in the repository\'s gate: list' },
  GG_NOT_QUARANTINED: { status: 404, meaning: 'the test is not quarantined' },
  GG_QUARANTINE_IN_CONFIG: { status: 409, meaning: 'the test is quarantined in greengate.yml, not over the API' },
  GG_BUILD_DONE: { status: 409, meaning: 'the build has already ended' },
  GG_BAD_PARAM: { status: 400, meaning: 'a build param is not declared by the builder, or its value is not allowed' },
  GG_NOTHING_FAILED: { status: 409, meaning: 'a re-run of what failed asked of a build that is unfinished or has no failed unit' },
  GG_FLAG_NOT_FOUND: { status: 404, meaning: 'the repository\'s flags file defines no flag with that key' },
  GG_QUEUE_REFUSED: { status: 409, meaning: 'the land queue refuses the change (no queue on that branch, not a commit, branch missing)' },
  GG_QUEUE_NOT_FOUND: { status: 404, meaning: 'no such change in the land queue, or it is no longer queued' },
  GG_FLAGS_OFF: { status: 404, meaning: 'the repository serves no feature flags (no flags: in greengate.yml)' },
  GG_FLAG_EVENTS: { status: 400, meaning: 'a batch of A/B test events (POST /ofrep/v1/events) that is not valid: the message names the event and the field' },
  GG_BUSY: { status: 503, meaning: 'builds kept changing while a change was being queued; try again' },
  // who may call
  GG_NOT_ADMIN: { status: 403, meaning: 'a page form posted without an admin session: log in first' },
  GG_ADMIN_TOKEN: { status: 401, meaning: 'the admin token is wrong' },
  GG_HOOK_SECRET: { status: 401, meaning: 'a hook call (gate verdict, change notice) without the repository\'s hook secret' },
  GG_CSRF: { status: 403, meaning: 'a form post without the session\'s CSRF token' },
  GG_GIT_UNAUTHORIZED: { status: 401, meaning: 'fetching code over HTTP without the runner token' },
  GG_GIT_READ_ONLY: { status: 403, meaning: 'a push to the read-only code URL' },
  GG_ARTIFACT_UNAUTHORIZED: { status: 401, meaning: 'an artifact upload without the credential of a unit of that build that is running' },
  GG_ARTIFACT_PATH: { status: 400, meaning: 'an artifact path that is absolute, has "..", or is not normalized' },
  GG_ARTIFACT_LENGTH_REQUIRED: { status: 411, meaning: 'an artifact upload without Content-Length' },
  GG_ARTIFACT_TOO_LARGE: { status: 413, meaning: 'an artifact over artifactLimits.maxFileBytes, or a build over maxBuildBytes' },
  GG_ARTIFACT_TRANSFER: { status: 502, meaning: 'the runner could not upload or download an artifact (or its sha256 did not match)' },
  GG_ALERTMANAGER_TOKEN: { status: 401, meaning: 'an Alertmanager webhook call without the configured alertmanagerToken' },
  GG_FLAGS_TOKEN: { status: 401, meaning: 'an OFREP evaluation without a repository\'s flags token (403 when the token is wrong)' },
  GG_TOO_MANY_GUESSES: { status: 429, meaning: 'too many wrong tokens from one address' },
  // runner protocol and page sockets: each close code is defined here once (protocol.ts CloseCode derives from these)
  GG_PROTOCOL_BAD_FRAME: { status: 400, close: 1007, meaning: 'a runner frame that is not a valid message' },
  GG_PROTOCOL_ORDER: { status: 400, close: 1008, meaning: 'a runner frame out of order: the first frame is not hello, or hello comes twice' },
  GG_FRAME_TOO_BIG: { status: 413, close: 1009, meaning: 'a runner frame over MAX_FRAME_BYTES (closed by the WebSocket library itself)' },
  GG_PROTOCOL_VERSION: { status: 400, close: 4002, meaning: 'a runner speaking another protocol version (checked before anything else)' },
  GG_RUNNER_TOKEN: { status: 401, close: 4001, meaning: 'a runner hello with a wrong runner token' },
  GG_HELLO_TIMEOUT: { status: 408, close: 4003, meaning: 'a runner socket that sent no hello within HELLO_TIMEOUT_MS' },
  GG_RUNNER_SILENT: { status: 408, close: 4004, meaning: 'a runner that sent nothing for LOST_AFTER_MS: lost, its units requeued' },
  GG_RUNNER_REPLACED: { status: 409, close: 4005, meaning: 'a runner connection replaced by a newer one of the same runner (same name and instance id)' },
  GG_SHUTTING_DOWN: { status: 503, close: 4006, meaning: 'the server is shutting down; runners reconnect to the next one' },
  GG_RUNNER_NAME_IN_USE: { status: 409, close: 4007, meaning: 'a runner name held by a live runner with another instance id' },
  GG_LIVE_TOO_SLOW: { status: 503, close: 4008, meaning: 'a live page socket that did not read its updates fast enough; reconnect and catch up' },
  GG_RUNNER_TOKEN_GUESSES: { status: 429, close: 4029, meaning: 'too many wrong runner tokens from one address (socket and code URL together); wait for the window to end' },
  GG_TRY_AGAIN_LATER: { status: 503, close: 1013, meaning: 'the server cannot store anything now (storage fault or busy database); reconnect later' },
  GG_SECRET_UNAVAILABLE: { status: 500, meaning: 'a secret (a builder\'s, or a notification channel\'s) could not be read from the server\'s environment or file, or is too short to redact' },
  // runner side (the runner reads these through protocol.ts)
  GG_JUNIT_INVALID: { status: 500, meaning: 'a unit\'s JUnit report could not be read (runner/junit.ts)' },
  GG_MIRROR: { status: 500, meaning: 'the runner could not fetch or update its mirror of a repository (runner/mirror.ts)' },
  GG_PACK_FETCH: { status: 500, meaning: 'the runner could not fetch a unit\'s code from the server (runner/packFetch.ts)' },
  GG_SANDBOX: { status: 500, meaning: 'the runner could not start a unit in its sandbox (runner/sandbox.ts)' },
  GG_WORKSPACE: { status: 500, meaning: 'the runner could not prepare a unit\'s workspace (runner/workspace.ts)' },
  GG_RUNNER_INSTANCE: { status: 500, meaning: 'the runner\'s instance id file in its work directory is unreadable or cannot be created' },
  // server side
  GG_GIT_BUSY: { status: 503, meaning: 'too many fetches are being served at once; try again' },
  GG_GIT_FAILED: { status: 500, meaning: 'a git command on the server failed' },
  GG_GIT_TIMEOUT: { status: 504, meaning: 'a git command ran over its time limit and was killed' },
  GG_METRICS_SOURCE: { status: 502, meaning: 'a deploy watch\'s metrics source (Prometheus, or a page greengate scrapes) did not answer usably' },
  GG_NOTIFY_DELIVERY: { status: 502, meaning: 'a notification receiver did not accept a delivery (it is tried again)' },
  GG_DEMO_FAILED: { status: 500, meaning: 'greengate demo did not reach a step it waited for' },
  GG_REVERT_REFUSED: { status: 409, meaning: 'a deploy\'s automatic revert was refused by one of its guards (the message says which)' },
  GG_MIGRATION_CHANGED: { status: 500, meaning: 'a landed migration file was edited' },
  GG_CONFIG_INVALID: { status: 500, meaning: 'greengate.yml does not validate' },
  GG_PIPELINE_INVALID: { status: 422, meaning: 'a repository\'s pipeline file (pipeline: in greengate.yml) is missing or does not validate at that commit' },
  GG_INTERNAL: { status: 500, close: 1011, meaning: 'a bug: the server could not handle the request (or a runner message)' },
  GG_STORAGE_FULL: { status: 503, meaning: 'the data directory\'s disk is full: nothing new can be stored until space is freed' },
  GG_STORAGE_BUSY: { status: 503, meaning: 'another process holds the database\'s write lock: this write was not made; send it again in a moment' },
  GG_STORAGE_IO: { status: 503, meaning: 'the database cannot be written (I/O error or read-only file): nothing new can be stored' },
  // command line
  GG_USAGE: { status: 400, meaning: 'a command line the greengate command cannot parse' },
  GG_HOOK_INSTALL: { status: 500, meaning: 'the hooks could not be installed (or the server does not know the repository)' },
  GG_BACKUP: { status: 500, meaning: 'greengate backup could not copy or verify the database' },
  GG_SERVER_UNREACHABLE: { status: 503, meaning: 'the command line could not reach the greengate server' },
  GG_SERVER_ANSWER: { status: 502, meaning: 'the greengate server answered the command line with something it cannot read' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
/** The codes that end a WebSocket: each has its close code. */
export type ClosingCode = { [K in ErrorCode]: (typeof ERRORS)[K] extends { close: number } ? K : never }[ErrorCode];

/** Whether `code` ends a WebSocket (has a close code in the catalogue). */
export function isClosing(code: ErrorCode): code is ClosingCode {
  return (ERRORS[code] as ErrorSpec).close !== undefined;
}

export class GgError extends Error {
  readonly status: number;
  readonly closeCode: number | undefined;
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    const spec: ErrorSpec = ERRORS[code];
    this.status = spec.status;
    this.closeCode = spec.close;
  }
}

/** Throws the catalogued error `code` with a message saying what is wrong and how to fix it. */
export function fail(code: ErrorCode, message: string): never {
  throw new GgError(code, message);
}

/** The JSON body of an error answer. */
export function errorBody(err: GgError): { error: { code: string; message: string } } {
  return { error: { code: err.code, message: err.message } };
}

/** Any thrown value as a GgError: a GgError as it is, anything else as GG_INTERNAL (its text kept for the log). */
export function asGgError(err: unknown): GgError {
  if (err instanceof GgError) return err;
  const e = new GgError('GG_INTERNAL', 'internal error: the server could not handle this request; see its log', { cause: err });
  return e;
}
