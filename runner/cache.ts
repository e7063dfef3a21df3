/**
 * The workspace cache: what a slot keeps between builds (node_modules, .venv, …) and when it
 * may. Each entry is some paths and the tracked files whose content keys them; its key is a hash
 * of the builder's setup command, the paths, and those files' blob ids at the commit (git
 * ls-tree, before any file is touched). A slot's keys live beside it in `slot-N.cache.json`,
 * written only once setup has succeeded, so a failed or interrupted setup is never a hit.
 *
 * Without a `cache:` on the builder the defaults apply: `node_modules` keyed by `package.json`
 * and the node lockfiles at the root (so a project without a lockfile is cached too), `.venv` by
 * the python ones (DEFAULT_CACHES), each only when one of its files is there. Paths are gitignore patterns, anchored at the workspace root.
 * Validation: the server checks paths (protocol isWorkspacePattern); entries failing it here
 * are ignored, so nothing outside the workspace is ever kept or removed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import picomatch from 'picomatch';
import { isWorkspacePattern } from '../server/protocol.js';

export interface CacheSpec { paths: readonly string[]; key: readonly string[] }
export interface KeyedCache { id: string; paths: string[]; keyFiles: string[]; key: string }

/** The defaults when a builder has no `cache:` (documented in README, "Workspace cache"). */
export const DEFAULT_CACHES: readonly CacheSpec[] = [
  { paths: ['node_modules'], key: ['package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'] },
  { paths: ['.venv'], key: ['requirements*.txt', 'poetry.lock', 'Pipfile.lock', 'uv.lock'] },
];

/** `git ls-tree -r -z <sha>` output → path → blob id. */
export function parseTree(out: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const rec of out.split('\0')) {
    const tab = rec.indexOf('\t');
    if (tab < 0) continue;
    const [, type, oid] = rec.slice(0, tab).split(' ');
    if (type === 'blob') files.set(rec.slice(tab + 1), oid);
  }
  return files;
}

/**
 * The entries that apply at a commit, with their keys. `specs` null means the defaults, which
 * apply only when one of their key files is tracked; an explicit entry applies even when none is.
 */
export function keyCaches(tree: Map<string, string>, specs: readonly CacheSpec[] | null, setup: string): KeyedCache[] {
  const explicit = specs !== null;
  const out: KeyedCache[] = [];
  for (const spec of specs ?? DEFAULT_CACHES) {
    if (!spec.paths.every(isWorkspacePattern) || !spec.key.every(isWorkspacePattern)) continue;
    const match = picomatch([...spec.key], { dot: true });
    const keyFiles = [...tree.keys()].filter((f) => match(f)).sort();
    if (!explicit && keyFiles.length === 0) continue;
    const paths = [...spec.paths];
    const hash = createHash('sha256').update(JSON.stringify({ setup, paths, files: keyFiles.map((f) => [f, tree.get(f)]) }));
    out.push({ id: paths.join('\n'), paths, keyFiles, key: hash.digest('hex') });
  }
  return out;
}

/** `git clean` arguments sparing the kept entries' paths (-x ignores .gitignore, never -e). */
export function excludeArgs(kept: readonly KeyedCache[]): string[] {
  return kept.flatMap((c) => c.paths.flatMap((p) => ['-e', p.startsWith('**/') ? p : `/${p}`]));
}

/** The keys a slot's cache was last built with (empty when unknown or unreadable). */
export function readCacheKeys(file: string): Record<string, string> {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
    return v.keys && typeof v.keys === 'object' ? v.keys as Record<string, string> : {};
  } catch {
    return {};
  }
}

export function writeCacheKeys(file: string, entries: readonly KeyedCache[]): void {
  const keys = Object.fromEntries(entries.map((e) => [e.id, e.key]));
  writeFileSync(`${file}.tmp`, JSON.stringify({ keys }));
  renameSync(`${file}.tmp`, file);
}

export function forgetCacheKeys(file: string): void {
  rmSync(file, { force: true });
}

/** One line for the unit's log: what was kept or rebuilt, and why. */
export function describeCache(kept: readonly KeyedCache[], missed: readonly KeyedCache[]): string {
  const name = (c: KeyedCache) => `${c.paths.join(', ')} (key: ${c.keyFiles.join(', ') || 'no matching files'})`;
  const parts: string[] = [];
  if (kept.length) parts.push(`kept ${kept.map(name).join('; ')}`);
  if (missed.length) parts.push(`rebuilding ${missed.map(name).join('; ')}: first build in this slot, or the key changed`);
  return `[greengate] cache: ${parts.join('; ')}\n`;
}
