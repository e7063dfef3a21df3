/**
 * Flag hygiene (issue 25 item 7), from the code at the served commit: each time the flags of the
 * first gated branch are loaded at a new head (library.ts: every push to it, and at start-up),
 * `git grep` over that commit's tree (the flags file left out) finds
 *   - flags defined but referenced nowhere: a key that appears in no file as a whole word;
 *   - references to undefined flags: OpenFeature calls `get{Boolean,String,Number,Object}{Value,Details}("KEY"`
 *     whose KEY the flags file does not define.
 * Limits: at most MAX_KEYS keys searched, MAX_REFS references kept, git's own output and time limits
 * (git.ts); binary files skipped. A failure is the result's `problem`, never an exception.
 * Pure of state: the library keeps the newest result per repository.
 */
import { git, GIT_TIME_LIMITS } from '../git.js';

export const MAX_KEYS = 500;
export const MAX_REFS = 50;
const CALL = "get(Boolean|String|Number|Object)(Value|Details)\\([[:space:]]*['\"`][A-Za-z0-9_.:-]+['\"`]";

export interface Hygiene { sha: string; unreferenced: string[]; undefinedRefs: { key: string; file: string }[]; problem: string | null; checkedAt: number }

export async function checkHygiene(repoPath: string, sha: string, flagsFile: string, keys: readonly string[]): Promise<Hygiene> {
  const out: Hygiene = { sha, unreferenced: [], undefinedRefs: [], problem: null, checkedAt: Date.now() };
  const scope = ['--', '.', `:(exclude)${flagsFile}`];
  try {
    const searched = keys.slice(0, MAX_KEYS);
    if (searched.length) {
      const found = new Set((await grep(repoPath, ['grep', '-I', '-h', '-o', '-F', '-w', ...searched.flatMap((k) => ['-e', k]), sha, ...scope]))
        .split('\n').map((l) => l.trim()));
      out.unreferenced = searched.filter((k) => !found.has(k));
    }
    const defined = new Set(keys);
    const seen = new Set<string>();
    for (const line of (await grep(repoPath, ['grep', '-I', '-o', '-E', '-e', CALL, sha, ...scope])).split('\n')) {
      const m = /^[0-9a-f]+:(.*?):get\w+\(\s*['"`]([A-Za-z0-9_.:-]+)['"`]$/.exec(line);
      if (!m || defined.has(m[2]) || seen.has(m[2])) continue;
      seen.add(m[2]);
      out.undefinedRefs.push({ key: m[2], file: m[1] });
      if (out.undefinedRefs.length >= MAX_REFS) break;
    }
  } catch (err) {
    out.problem = `could not search the code at ${sha.slice(0, 12)} (within ${GIT_TIME_LIMITS.queryMs / 1000} s): ${(err as Error).message.slice(0, 300)}`;
  }
  return out;
}

/** git grep: its output; nothing found (exit 1 without a message) is an empty string. */
async function grep(repoPath: string, args: string[]): Promise<string> {
  try {
    return await git(repoPath, args);
  } catch (err) {
    if (/failed: Command failed: git/.test((err as Error).message)) return '';
    throw err;
  }
}
