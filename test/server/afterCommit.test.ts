import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The after-commit rule (server/store/index.ts `afterCommit`) is the only way the server defers work
 * past a commit: no module outside the store defers with setImmediate, queueMicrotask or
 * process.nextTick, except the few below, each deferring for another reason (said why).
 */
const SERVER = fileURLToPath(new URL('../../../server/', import.meta.url));
const ALLOWED: Record<string, string> = {
  'dispatch/liveness.ts': 'setImmediate waits for the next poll for input (bytes waiting in sockets stamp lastSeen first), not for a commit',
  'dispatch/gateway.ts': "process.nextTick stores a runner's burst of frames (one read) in one transaction once the read is handled, not after a commit",
  'dispatch/connection.ts': "process.nextTick uncorks a runner's socket once the frames of one read are handled (their answers leave in one write), not after a commit",
  'queue/entry.ts': "setImmediate makes a queued change's hidden ref after the hook's answer is sent (its row was written before, synchronously), not after a commit",
  'flags/eventRetention.ts': 'setImmediate lets the event loop turn between two bounded delete batches of a prune pass (each its own transaction), not after a commit',
  'flags/experiments.ts': 'setImmediate writes the next FLUSH_ROWS of buffered exposures after the loop has turned (evaluations answered between the transactions), not after a commit',
  'pipeline.ts': 'queueMicrotask dispatches after the gateway has answered the runner that joined (welcome before any assign), not after a commit',
};
const DEFERRAL = /\b(setImmediate|queueMicrotask|process\.nextTick)\s*\(/;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The file's lines that defer, comments left out. */
function deferrals(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).split('\n').map((l) => l.replace(/\/\/.*$/, ''));
  return code.flatMap((line, i) => (DEFERRAL.test(line) ? [`${i + 1}: ${line.trim()}`] : []));
}

describe('the after-commit rule: no deferral outside the store', () => {
  it('finds setImmediate / queueMicrotask / process.nextTick only in the store and the allowlist', () => {
    const found: Record<string, string[]> = {};
    for (const file of sources(SERVER)) {
      const rel = relative(SERVER, file).split('\\').join('/');
      if (rel.startsWith('store/') || ALLOWED[rel]) continue;
      const lines = deferrals(readFileSync(file, 'utf8'));
      if (lines.length) found[rel] = lines;
    }
    expect(found, 'defer work after a commit with store.afterCommit (server/store/index.ts), not with these').to.deep.equal({});
  });

  it('each allowlisted module still defers (an entry that is no longer needed is removed)', () => {
    for (const rel of Object.keys(ALLOWED)) {
      expect(deferrals(readFileSync(join(SERVER, rel), 'utf8')), rel).to.have.length.above(0);
    }
  });

  it('the scan sees a deferral (checked on a sample)', () => {
    expect(deferrals('const a = 1;\n// setImmediate(x) in a comment\nif (x) setImmediate(() => go());\n/* queueMicrotask(y) */')).to.deep.equal(
      ['3: if (x) setImmediate(() => go());']);
  });
});
