/**
 * What the server sends a runner (server/protocol.ts holds the lifecycle; import from there):
 * welcome, assign (with its builder spec, sandbox and artifacts), ack, ackFinished, cancel,
 * refuse, retry.
 */
import { z } from 'zod';
import { id, MAX_CACHE_ITEMS, MAX_RETRY_AFTER_MS, sha, workspacePattern } from './fields.js';

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
