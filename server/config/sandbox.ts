/**
 * `sandbox:` of a builder or a deploy stage in greengate.yml: what a unit's sandbox opens beyond
 * its workspace and a private /tmp (runner/sandbox.ts). Safe defaults when absent:
 *
 *   sandbox:
 *     network: true        # the host's network (setup fetches dependencies); false: a private loopback only
 *     readOnly: []         # absolute paths the sandbox hides (the runner's home, /tmp) shown read-only again
 *     writable: []         # absolute paths the unit may write besides its workspace
 *     keepProcesses: false # deploy stages only: processes outlive the step (no PID namespace)
 *
 * Checked here and again by the runner (it also refuses paths inside its own work dir).
 */
import { z } from 'zod';
import { MAX_SANDBOX_PATHS, type SandboxSpec } from '../protocol.js';

const pathSchema = z.string().refine((p) => p.startsWith('/') && p !== '/' && !p.split('/').includes('..') && !p.includes('\0'),
  'must be an absolute path other than "/", without ".." — e.g. /srv/deployed');
const pathsSchema = z.array(pathSchema).max(MAX_SANDBOX_PATHS, `must list at most ${MAX_SANDBOX_PATHS} paths`).default([]);

const builderShape = {
  network: z.boolean('must be true (the host\'s network) or false (a private loopback only)').default(true),
  readOnly: pathsSchema,
  writable: pathsSchema,
};
export const builderSandboxSchema = z.strictObject(builderShape).optional(); // absent: the defaults above
export const stageSandboxSchema = z.strictObject({
  ...builderShape,
  keepProcesses: z.boolean('must be true (the step\'s processes may outlive it) or false').default(false),
}).optional();
export const SANDBOX_KEYS = [...Object.keys(builderShape), 'keepProcesses'];

export interface SandboxConfig { network: boolean; readOnly: string[]; writable: string[]; keepProcesses?: boolean }

/** What the runner is told (protocol `builder.sandbox`). */
export function toSandboxSpec(s: SandboxConfig | undefined): SandboxSpec | undefined {
  if (!s) return undefined;
  return { network: s.network, readOnly: [...s.readOnly], writable: [...s.writable], keepProcesses: s.keepProcesses ?? false };
}
