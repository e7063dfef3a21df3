/**
 * One setup per runner, shared by its slots (issue 24 item 1). A cache entry's key (cache.ts)
 * hashes the builder's setup, the entry's paths and its key files' blobs, so two slots needing
 * the same key need the same result. The first slot to miss a key claims it and runs `setup`
 * (in its sandbox, as ever); the other slots missing that key wait for it and then take a copy of
 * the entry's paths from that slot (`cp -a --reflink=auto`: copy-on-write where the filesystem
 * has it, a plain copy otherwise), so N slots install once. A slot waits only on setups of the
 * keys it needs: a key change on one slot never makes the others wait longer than that install.
 * When the setup fails (or the slot's unit ends without one), the waiters take over: one claims
 * the key and runs setup itself.
 *
 * Never hard links: a unit may write into node_modules (caches, patched files), and with links
 * that would change every other slot's copy. A slot lends its paths only while its keys stand:
 * before it checks out a new build it waits for copies out of it to end (quiesce) and drops out.
 *
 * Only literal paths are copied (`node_modules`, `packages/a/.venv`); an entry with a glob
 * pattern (`**` `/node_modules`) is set up in each slot as before. Copies never go through a link:
 * both the source's and the target's parent folders must resolve inside their workspaces.
 * A slot claiming one key never waits for another (it runs setup anyway), so waits cannot cycle.
 * One instance per repository (workspace.ts): slots of two repositories never share, whatever their keys.
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { KeyedCache } from './cache.js';
import { fail } from '../server/protocol.js';

/** What obtain did for a slot's missed entries. */
export interface SharedOutcome {
  /** Every missed entry was copied from another slot: the slot may skip setup as on a hit. */
  copied: boolean;
  /** One log line for the unit (empty when nothing was shared). */
  message: string;
}

interface Holder { dir: string; slot: number }
interface Claim { dir: string; done: Promise<void>; resolve: () => void }

export class SharedSetups {
  /** key → slots whose workspace holds that entry after a successful setup (or copy). */
  private readonly holders = new Map<string, Holder[]>();
  /** key → the slot running its setup now. */
  private readonly claims = new Map<string, Claim>();
  /** slot dir → copies being taken out of it. */
  private readonly lending = new Map<string, Set<Promise<unknown>>>();

  /**
   * For a slot that missed `missed`: claims the keys nobody has or is making (the slot then runs
   * setup: copied false), else waits for the setups under way and copies every entry.
   */
  async obtain(dir: string, slot: number, missed: readonly KeyedCache[]): Promise<SharedOutcome> {
    if (!missed.length || !missed.every(isCopyable)) return { copied: false, message: '' };
    const started = performance.now();
    for (;;) {
      const free = missed.filter((c) => !this.holderOf(c.key, dir) && !this.claims.has(c.key));
      if (free.length) {
        for (const c of free) this.claim(c.key, dir);
        return { copied: false, message: '' };
      }
      const pending = missed.map((c) => this.claims.get(c.key)).filter((c): c is Claim => !!c && c.dir !== dir);
      if (!pending.length) break;
      await Promise.all(pending.map((c) => c.done));
    }
    const waitedMs = performance.now() - started;
    const from = new Set<number>();
    try {
      for (const c of missed) {
        const holder = this.holderOf(c.key, dir);
        if (!holder) fail('GG_WORKSPACE', `no slot holds ${c.paths.join(', ')} any more`);
        await this.copyFrom(holder.dir, dir, c.paths);
        from.add(holder.slot);
      }
    } catch (err) {
      return { copied: false, message: `[greengate] shared setup: copying from another slot failed (${(err as Error).message.slice(0, 300)}); running setup here\n` };
    }
    const took = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return {
      copied: true,
      message: `[greengate] shared setup: copied ${missed.map((c) => c.paths.join(', ')).join('; ')} from slot ${[...from].join(', ')} ` +
        `(waited ${took(waitedMs)} for its setup, copy ${took(performance.now() - started - waitedMs)})\n`,
    };
  }

  /** The slot's setup succeeded (or its copy was taken): it now holds these entries and ends its claims. */
  hold(dir: string, slot: number, entries: readonly KeyedCache[]): void {
    for (const c of entries) {
      const list = (this.holders.get(c.key) ?? []).filter((h) => h.dir !== dir);
      this.holders.set(c.key, [...list, { dir, slot }]);
    }
    this.endClaims(dir);
  }

  /** The slot's setup failed or never ran: its claims end and a waiter takes over. */
  endClaims(dir: string): void {
    for (const [key, claim] of this.claims) {
      if (claim.dir !== dir) continue;
      this.claims.delete(key);
      claim.resolve();
    }
  }

  /** Before the slot changes its workspace: ends its stale claims, stops lending it and waits for copies out of it. */
  async quiesce(dir: string): Promise<void> {
    this.endClaims(dir);
    for (const [key, list] of this.holders) {
      const rest = list.filter((h) => h.dir !== dir);
      if (rest.length) this.holders.set(key, rest); else this.holders.delete(key);
    }
    const copies = this.lending.get(dir);
    if (copies) await Promise.allSettled([...copies]);
  }

  private holderOf(key: string, dir: string): Holder | undefined {
    return this.holders.get(key)?.find((h) => h.dir !== dir);
  }

  private claim(key: string, dir: string): void {
    let resolve!: () => void;
    const done = new Promise<void>((r) => { resolve = r; });
    this.claims.set(key, { dir, done, resolve });
  }

  private async copyFrom(source: string, target: string, paths: readonly string[]): Promise<void> {
    let copies = this.lending.get(source);
    if (!copies) this.lending.set(source, copies = new Set());
    const copy = Promise.all(paths.map((p) => copyPath(source, target, p.replace(/\/+$/, ''))));
    copies.add(copy);
    try {
      await copy;
    } finally {
      copies.delete(copy);
    }
  }
}

/** Literal workspace paths only: no glob characters (an entry with one is set up per slot). */
export function isCopyable(c: KeyedCache): boolean {
  return c.paths.every((p) => !/[*?[\]{}!\\]/.test(p));
}

/** Copies `rel` from one workspace to another (copy-on-write where possible), never through a link. */
async function copyPath(sourceRoot: string, targetRoot: string, rel: string): Promise<void> {
  const src = join(sourceRoot, rel);
  const dest = join(targetRoot, rel);
  if (!existsSync(src) && !isLink(src)) return; // the setup made nothing there
  insideOrThrow(sourceRoot, dirname(src));
  insideOrThrow(targetRoot, nearestExisting(dirname(dest)));
  mkdirSync(dirname(dest), { recursive: true });
  insideOrThrow(targetRoot, dirname(dest));
  rmSync(dest, { recursive: true, force: true });
  await new Promise<void>((resolve, reject) => {
    execFile('cp', ['-a', '--reflink=auto', '-T', '--', src, dest], { timeout: 600_000 },
      (err, _out, stderr) => (err ? reject(new Error(`cp ${rel}: ${String(stderr).trim() || err.message}`, { cause: err })) : resolve()));
  });
}

function isLink(p: string): boolean {
  try { return lstatSync(p).isSymbolicLink(); } catch { return false; }
}

function nearestExisting(p: string): string {
  let at = p;
  while (!existsSync(at) && !isLink(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

function insideOrThrow(root: string, folder: string): void {
  const real = realpathSync(root);
  const f = realpathSync(folder);
  if (f !== real && !f.startsWith(real + sep)) fail('GG_WORKSPACE', `${folder} leads outside the workspace (a link?)`);
}
