/**
 * `greengate hook proc-receive`: git's proc-receive hook (githooks(5); receive.procReceiveRefs =
 * refs/for, set by `greengate hook install`). git runs it, in the bare repository, for a push to
 * refs/for/<branch> after the push's objects left the quarantine, and talks pkt-lines on stdin and
 * stdout: it sends `version=1\0caps` + flush, we answer `version=1` + flush; it sends
 * `<old> <new> <ref>` lines + flush; we answer `ok <ref>` or `ng <ref> <reason>` per ref + flush.
 * We ask the server (POST {greengate.server}/api/queue/{greengate.repo}, the hook secret from
 * <repo>/greengate-hook-secret as its header, the pusher as gate/hooks/settings.sh finds it) and
 * print its answer to stderr, which git shows the pusher as `remote: …`. First, the repository's
 * `update` hook (which git skips for these refs) is asked about the branch itself
 * (updateHookRefusal): who may not write the branch may not queue for it. Nothing is written to
 * the branch; the server keeps the commit under refs/greengate/queue/<id>. Any failure is `ng`
 * with a reason, never a hang: the server is given greengate.timeout seconds (default 15).
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fail } from '../errors.js';

const FLUSH = '0000';

/** One pkt-line holding `text`. */
export function pkt(text: string): string {
  const len = Buffer.byteLength(text) + 4;
  return len.toString(16).padStart(4, '0') + text;
}

/** Reads pkt-lines from a stream: `next()` answers the line's text (no trailing LF) or null for a flush. */
export class PktReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private waiting: (() => void) | null = null;
  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.waiting?.(); });
    stream.on('end', () => { this.ended = true; this.waiting?.(); });
  }
  async next(): Promise<string | null> {
    for (;;) {
      if (this.buf.length >= 4) {
        const len = parseInt(this.buf.subarray(0, 4).toString('latin1'), 16);
        if (Number.isNaN(len) || (len > 0 && len < 4)) fail('GG_BAD_BODY', `proc-receive: bad pkt-line length "${this.buf.subarray(0, 4).toString('latin1')}"`);
        if (len === 0) { this.buf = this.buf.subarray(4); return null; }
        if (this.buf.length >= len) {
          const text = this.buf.subarray(4, len).toString('utf8').replace(/\n$/, '');
          this.buf = this.buf.subarray(len);
          return text;
        }
      }
      if (this.ended) fail('GG_BAD_BODY', 'proc-receive: git closed the pipe mid-message');
      await new Promise<void>((resolve) => { this.waiting = () => { this.waiting = null; resolve(); }; });
    }
  }
  /** Lines up to the next flush. */
  async section(): Promise<string[]> {
    const lines: string[] = [];
    for (let l = await this.next(); l !== null; l = await this.next()) lines.push(l);
    return lines;
  }
}

function config(key: string): string | null {
  try {
    return execFileSync('git', ['config', '--get', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** Who the git server authenticated (same order as gate/hooks/settings.sh); never a variable of the pusher's choosing. */
function pusher(): string | null {
  const e = process.env;
  const name = e.GL_USER || e.GL_USERNAME || e.REMOTE_USER || userInfo().username;
  return name ? name.replace(/[\p{Cc}].*$/su, '').slice(0, 200) : null;
}

interface Update { old: string; new: string; ref: string }

/** What the server says about the updates: per ref, ok (with lines for the pusher) or ng with a reason. */
async function ask(updates: Update[]): Promise<{ ok: boolean; lines: string[]; reason: string }> {
  const server = config('greengate.server')?.replace(/\/+$/, '');
  const repo = config('greengate.repo');
  if (!server || !repo) return { ok: false, lines: [], reason: 'greengate.server or greengate.repo is not set: run greengate hook install' };
  const timeout = Number(config('greengate.timeout') ?? '15');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  try {
    const line = readFileSync(join(process.env.GIT_DIR ?? '.', 'greengate-hook-secret'), 'utf8');
    const m = /^X-Greengate-Hook-Secret: ([0-9a-f]{64})/.exec(line);
    if (m) headers['x-greengate-hook-secret'] = m[1];
  } catch {
    // no secret: the server answers 401, reported below
  }
  let res: Response;
  try {
    res = await fetch(`${server}/api/queue/${encodeURIComponent(repo)}`, { method: 'POST', headers,
      body: JSON.stringify({ updates, pusher: pusher() ?? undefined }),
      signal: AbortSignal.timeout((Number.isFinite(timeout) && timeout > 0 ? timeout : 15) * 1000) });
  } catch (err) {
    return { ok: false, lines: [], reason: `cannot reach the greengate server at ${server} (${(err as Error).name === 'TimeoutError' ? 'no answer in time' : (err as Error).message}); nothing queued` };
  }
  const body = await res.json().catch(() => null) as { queued?: { id: number; branch: string; position: number; url: string }[]; error?: { message?: string } } | null;
  if (res.status === 401) return { ok: false, lines: [], reason: 'the server refused this hook\'s secret (HTTP 401): run greengate hook install on this repository again' };
  if (!res.ok || !body?.queued) return { ok: false, lines: [], reason: body?.error?.message ?? `the server answered HTTP ${res.status}` };
  return { ok: true, reason: '', lines: body.queued.map((q) => `greengate: queued as change ${q.id}, position ${q.position} in ${q.branch}'s land queue: ${q.url}`) };
}

/**
 * git does not run the `update` hook for refs handled by proc-receive, and that hook is where a git
 * server checks who may write which branch (gitolite's per-branch rules). So the branch's own check is
 * asked here: `hooks/update refs/heads/<branch> <merge base> <new>` (from the merge base: landing
 * through the queue is a fast-forward of the change onto the branch). Its refusal, or null.
 */
function updateHookRefusal(update: Update): string | null {
  const hook = join(process.env.GIT_DIR ?? '.', 'hooks', 'update');
  try {
    accessSync(hook, constants.X_OK);
  } catch {
    return null; // no update hook: nothing more to ask
  }
  const branch = update.ref.slice('refs/for/'.length);
  let base = '0'.repeat(40);
  try {
    base = execFileSync('git', ['merge-base', `refs/heads/${branch}`, update.new], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || base;
  } catch {
    // no common history, or no such branch: asked as a creation
  }
  const r = spawnSync(hook, [`refs/heads/${branch}`, base, update.new], { stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status === 0 ? null : `the repository's update hook refuses your writing to refs/heads/${branch}, so you may not queue changes for it either`;
}

export async function runProcReceive(input: NodeJS.ReadableStream = process.stdin, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const reader = new PktReader(input);
  const hello = await reader.section();
  if (!hello[0]?.startsWith('version=1')) {
    process.stderr.write(`greengate: proc-receive: unknown protocol "${(hello[0] ?? '').split('\0')[0].slice(0, 40)}" (want version=1)\n`);
    process.exitCode = 1;
    return;
  }
  out.write(pkt('version=1') + FLUSH);
  const updates = (await reader.section()).map((l) => {
    const [old, neu, ref] = l.split(' ');
    return { old, new: neu, ref };
  });
  const refused = updates.map(updateHookRefusal).find((r) => r !== null);
  const answer = refused ? { ok: false, lines: [], reason: refused } : await ask(updates);
  for (const line of answer.lines) process.stderr.write(`${line}\n`);
  if (!answer.ok) process.stderr.write(`greengate: not queued: ${answer.reason}\n`);
  const reason = answer.reason.replace(/[\r\n]+/g, ' ').slice(0, 400);
  out.write(updates.map((u) => pkt(answer.ok ? `ok ${u.ref}` : `ng ${u.ref} ${reason}`)).join('') + FLUSH);
}
