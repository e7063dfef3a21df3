/**
 * The pre-receive gate's check of a pushed flags file: for each update of a gated branch of a
 * repository with `flags:` (not a deletion), the flags file is read from the pushed commit — its
 * objects are still in git's quarantine of the push (the hook sends the path; only a checked one is
 * used, exactRevert.ts `checkedQuarantine`) — and checked strictly (definitions.ts). The answer is
 * the refusal's lines naming the file and each problem, or none. A file that is missing at the
 * pushed commit is refused too (the flags would vanish). A git failure or time-out refuses (the
 * push is never waved through unchecked). Read-only: nothing is written to either object store.
 */
import { execFile } from 'node:child_process';
import type { RepositoryConfig } from '../config/config.js';
import type { GateRequest } from '../gate/request.js';
import { isZero } from '../gate/request.js';
import { checkFlagsFile, MAX_FLAGS_BYTES } from './definitions.js';

export const READ_TIMEOUT_MS = 5_000; // one git read of the file

/** Refusal lines (empty: every pushed flags file is fine, or none is concerned). */
export async function checkPushedFlags(repo: RepositoryConfig, request: GateRequest, quarantine: string | null): Promise<string[]> {
  const flags = repo.flags;
  if (!flags) return [];
  const lines: string[] = [];
  for (const u of request.updates) {
    if (!u.ref.startsWith('refs/heads/') || isZero(u.new)) continue;
    const branch = u.ref.slice('refs/heads/'.length);
    if (!repo.gate.includes(branch)) continue;
    const read = await readBlob(repo.path, quarantine, `${u.new}:${flags.file}`);
    const problems = read.text === null ? [read.problem] : checked(read.text, flags.file);
    if (problems.length === 0) continue;
    lines.push(`greengate: REFUSED ${branch}: ${flags.file} at ${u.new.slice(0, 12)} is not a valid flags file (flagd's schema):`);
    for (const p of problems) lines.push(`greengate:   ${clean(p)}`);
    lines.push(`greengate:   fix ${flags.file} and push again (greengate serves it to OpenFeature SDKs for ${repo.name})`);
  }
  return lines;
}

function checked(text: string, file: string): string[] {
  const c = checkFlagsFile(text, file);
  return c.ok ? [] : c.problems;
}

function readBlob(bare: string, quarantine: string | null, spec: string): Promise<{ text: string; problem?: undefined } | { text: null; problem: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: '/nonexistent', LC_ALL: 'C', GIT_DIR: bare,
    GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0',
    ...(quarantine ? { GIT_ALTERNATE_OBJECT_DIRECTORIES: quarantine } : {}) };
  const file = spec.slice(spec.indexOf(':') + 1);
  return new Promise((resolve) => {
    execFile('git', ['cat-file', '-e', spec], { env, timeout: READ_TIMEOUT_MS, killSignal: 'SIGKILL' }, (missing) => {
      if (missing) return resolve({ text: null, problem: `${file} is missing from the pushed commit — add it back (an empty set is {"flags": {}}) or remove flags: from greengate.yml` });
      execFile('git', ['cat-file', 'blob', spec], { env, timeout: READ_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: MAX_FLAGS_BYTES + 1, encoding: 'utf8' },
        (err, stdout) => {
          if (err && /maxBuffer/i.test(err.message)) return resolve({ text: null, problem: `${file} is over ${MAX_FLAGS_BYTES} bytes — split the flags or remove old ones` });
          if (err) return resolve({ text: null, problem: `${file} could not be read from the pushed commit (${err.message.split('\n')[0].slice(0, 200)}) — push again` });
          resolve({ text: stdout });
        });
    });
  });
}

/** One line fit for a terminal. */
function clean(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim();
  return flat.length > 400 ? `${flat.slice(0, 400)}…` : flat;
}
