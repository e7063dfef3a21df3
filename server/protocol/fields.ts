/**
 * The caps and field shapes both directions of the protocol share (server/protocol.ts is the
 * contract; import from there): frame and log limits, ids, runner names and labels, workspace
 * patterns.
 */
import { z } from 'zod';
import { fail } from '../errors.js';

export const MAX_FRAME_BYTES = 1024 * 1024; // 1 MiB: a log chunk is at most MAX_CHUNK_BYTES
export const MAX_CHUNK_BYTES = 64 * 1024; // 64 KiB of log text per chunk
export const HEARTBEAT_MS = 5_000; // 5 seconds
export const LOST_AFTER_MS = 15_000; // 15 seconds without a frame
export const MAX_CACHE_ITEMS = 32; // cache entries per builder, and paths or keys per entry
export const HELLO_TIMEOUT_MS = 5_000; // first frame must be hello within 5 seconds
export const DEFAULT_MAX_LOG_BYTES = 32 * 1024 * 1024; // 32 MiB of log per unit
export const MARKER_ROOM_BYTES = 1024; // room past the cap for the runner's truncation marker
export const MAX_RETRY_AFTER_MS = 600_000; // a retry is asked for at most 10 minutes later

export const id = z.number().int().positive();
export const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-character hex commit id');
export const name = z.string().min(1).max(100).regex(/^[A-Za-z0-9._@:-]+$/, 'letters, digits and . _ @ : -');

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

/** A workspace-relative path or glob: not absolute, no ".." and nothing inside .git (config and runner both check). */
export function isWorkspacePattern(s: string): boolean {
  const parts = s.replace(/\/+$/, '').split('/');
  return !s.startsWith('/') && !parts.includes('..') && !parts.includes('.git') && s.replace(/[/.*]/g, '') !== '';
}
export const workspacePattern = z.string().min(1).max(1000).refine(isWorkspacePattern, 'a path relative to the workspace, without ".." or ".git"');
