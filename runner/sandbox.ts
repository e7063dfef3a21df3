/**
 * The sandbox a unit's commands run in: bubblewrap (`bwrap`), one sandbox per command (setup,
 * run). Inside: the whole filesystem read-only; writable only the slot's workspace, a private
 * /tmp, its repository's package cache (runner/packageCache.ts) and the builder's `sandbox.writable` paths; the slot's `.git` read-only (bound over the
 * writable slot), the objects it borrows (mirror, server repository) read-only and nothing else
 * of those repositories; the runner's work dir (other slots,
 * other repositories' mirrors, the instance id), its home and its token file hidden (an empty
 * tmpfs, or /dev/null over a file; greengate's own dist/ and PATH entries under the home stay
 * readable). Its own user namespace with a non-zero uid and no
 * capabilities, its own PID namespace with a fresh /proc (the runner's /proc/<pid>/environ is not
 * there), --die-with-parent and --new-session: when the command ends, bwrap's PID 1 ends and the
 * kernel kills every process left in the namespace, `setsid` children included. Network: the
 * host's when `network` is true, else a private loopback only.
 *
 * A deploy stage may ask for `keepProcesses` (its app outlives the step): then there is no PID
 * namespace, so its processes share the runner's (and see its /proc); run such stages on runners
 * kept for deploying (runsOn).
 *
 * Mode (runner flag --sandbox): `bwrap` requires it, `none` runs units unsandboxed (refused when
 * the runner is root), `auto` (default) uses bwrap when found on PATH, else `none` with a warning.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorCode } from '../server/protocol.js';

/** greengate's compiled code (dist/): units use its node:test reporter, wherever greengate is installed. */
const GREENGATE_CODE = dirname(dirname(fileURLToPath(import.meta.url)));

export const SANDBOX_MODES = ['auto', 'bwrap', 'none'] as const;
export type SandboxMode = typeof SANDBOX_MODES[number];
export const SANDBOX_UID = 1000; // the unit's uid inside its user namespace (never 0)

export class SandboxError extends Error {
  readonly code: ErrorCode = 'GG_SANDBOX';
}

/** What a builder or deploy stage asks of its sandbox (protocol `assign.builder.sandbox`). */
export interface SandboxPolicy { network: boolean; readOnly: readonly string[]; writable: readonly string[]; keepProcesses: boolean }
export const DEFAULT_POLICY: SandboxPolicy = { network: true, readOnly: [], writable: [], keepProcesses: false };

/** Where a unit runs: what it may write and what must stay hidden from it. */
export interface SandboxPlace {
  /** The slot's workspace (the unit's cwd). */
  workspace: string;
  /** The runner's work dir: hidden, but for the slot and the objects it borrows. */
  workDir: string;
  /** More files or directories to hide (the token file). */
  hide: readonly string[];
  /** The repository's package-manager cache (runner/packageCache.ts), writable; absent: none. */
  packageCache?: string;
}

export interface Sandbox {
  readonly kind: 'bwrap' | 'none';
  /** The argv that runs `command` (an argv itself) in this sandbox. */
  wrap(command: readonly string[], place: SandboxPlace, policy: SandboxPolicy): string[];
}

/** Picks the sandbox for --sandbox MODE; throws SandboxError saying what to do when it cannot be had. */
export function chooseSandbox(mode: SandboxMode, opts: { root: boolean; bwrap: string | null }): { sandbox: Sandbox; warning: string | null } {
  if (mode === 'bwrap' && !opts.bwrap) {
    throw new SandboxError('--sandbox bwrap: bwrap is not on PATH — install bubblewrap (apt-get install bubblewrap) or pass --sandbox auto');
  }
  if (opts.bwrap && mode !== 'none') return { sandbox: new Bwrap(opts.bwrap), warning: null };
  if (opts.root) {
    throw new SandboxError(`refusing to run units as root without a sandbox (${mode === 'none' ? '--sandbox none' : 'bwrap not found'}): ` +
      'install bubblewrap (apt-get install bubblewrap), or run the runner as its own unprivileged user');
  }
  return {
    sandbox: NONE,
    warning: 'WARNING: units run WITHOUT a sandbox: pushed code can read this runner\'s token (/proc, the token file), ' +
      'other slots and leave processes behind. Install bubblewrap (apt-get install bubblewrap), or run the runner as its own ' +
      'Unix user with a token file of mode 0600 that no unit user can read (see docs/operations.md).',
  };
}

/** bwrap's path on PATH, or null. */
export function findBwrap(path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, 'bwrap');
    try {
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

const NONE: Sandbox = { kind: 'none', wrap: (command) => [...command] };

class Bwrap implements Sandbox {
  readonly kind = 'bwrap';
  constructor(private readonly bwrap: string) {}

  wrap(command: readonly string[], place: SandboxPlace, policy: SandboxPolicy): string[] {
    checkPolicy(policy, place.workDir);
    const ws = resolve(place.workspace);
    const args = [this.bwrap, '--unshare-user', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID), '--cap-drop', 'ALL', '--new-session'];
    if (!policy.network) args.push('--unshare-net');
    if (!policy.keepProcesses) args.push('--unshare-pid', '--die-with-parent');
    args.push('--ro-bind', '/', '/', '--dev', '/dev');
    if (!policy.keepProcesses) args.push('--proc', '/proc');
    args.push('--tmpfs', '/tmp');
    const home = process.env.HOME;
    if (home && isAbsolute(home) && home !== '/') {
      args.push('--tmpfs', home);
      // Programs installed under the home (nvm, ~/.local/bin) stay runnable.
      for (const dir of new Set((process.env.PATH ?? '').split(delimiter))) if (within(dir, home) && existsSync(dir)) args.push('--ro-bind', dir, dir);
    }
    args.push('--ro-bind', GREENGATE_CODE, GREENGATE_CODE);
    for (const p of policy.readOnly) args.push('--ro-bind-try', p, p);
    for (const p of policy.writable) args.push('--bind', p, p);
    // Hidden after the builder's paths, so none of them can open these again.
    args.push('--tmpfs', resolve(place.workDir));
    if (place.packageCache) args.push('--bind', resolve(place.packageCache), resolve(place.packageCache));
    for (const file of place.hide) {
      if (!existsSync(file)) continue;
      if (statSync(file).isDirectory()) args.push('--tmpfs', file);
      else args.push('--ro-bind', '/dev/null', file);
    }
    args.push('--bind', ws, ws);
    if (existsSync(join(ws, '.git'))) args.push('--ro-bind', join(ws, '.git'), join(ws, '.git'));
    // The repositories it borrows from show their objects only (not a hook secret, hooks or config).
    for (const objects of borrowedObjects(join(ws, '.git', 'objects'))) args.push('--tmpfs', dirname(objects), '--ro-bind', objects, objects);
    args.push('--chdir', ws, '--', ...command);
    return args;
  }
}

/** Refuses paths a builder may not open: relative ones, '/', and the runner's own work dir. */
export function checkPolicy(policy: SandboxPolicy, workDir: string): void {
  for (const p of [...policy.readOnly, ...policy.writable]) {
    if (!isAbsolute(p) || p.split('/').includes('..') || p.includes('\0')) {
      throw new SandboxError(`sandbox path "${p}" must be absolute, without ".."`);
    }
    if (normalize(p) === '/' || within(p, resolve(workDir))) {
      throw new SandboxError(`sandbox path "${p}" would open the whole disk or the runner's work dir to the unit: name a directory of its own`);
    }
  }
}

/** The object directories `objects` borrows (objects/info/alternates), followed down the chain. */
export function borrowedObjects(objects: string, depth = 0): string[] {
  if (depth > 5) return [];
  let text: string;
  try {
    text = readFileSync(join(objects, 'info', 'alternates'), 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const dir = resolve(objects, line);
    if (!existsSync(dir)) continue;
    out.push(dir, ...borrowedObjects(dir, depth + 1));
  }
  return out;
}

function within(path: string, dir: string): boolean {
  const p = resolve(path);
  const d = resolve(dir);
  return p === d || p.startsWith(d.endsWith(sep) ? d : d + sep);
}
