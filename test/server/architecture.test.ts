import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers.js';

/**
 * The shape of server/: which parts may import which. A part is a folder under server/
 * (server/store, server/planning, …); a module directly in server/ (errors.ts, protocol.ts,
 * git.ts, main.ts, …) is a part of its own. `import type` and `export type` are left out: they
 * vanish when compiled.
 */

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The relative modules a file imports at run time, dynamic imports included (type-only imports and exports left out). */
export function runtimeImports(text: string): string[] {
  const out: string[] = [];
  const statement = /^[ \t]*(import|export)\b([^;'"]*?)\bfrom\s*['"](\.[^'"]+)['"]/gm;
  for (const m of text.matchAll(statement)) {
    const clause = m[2].trim();
    if (/^type\b/.test(clause)) continue;
    const names = /^\{([\s\S]*)\}$/.exec(clause);
    if (names && names[1].split(',').map((n) => n.trim()).filter(Boolean).every((n) => n.startsWith('type '))) continue;
    out.push(m[3]);
  }
  for (const m of text.matchAll(/^[ \t]*import\s*['"](\.[^'"]+)['"]/gm)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** The part a server file belongs to: its folder under server/, or the file itself at the top. */
function partOf(file: string, server: string): string {
  const rel = relative(server, file);
  const slash = rel.indexOf('/');
  return slash === -1 ? rel.replace(/\.[jt]s$/, '') : rel.slice(0, slash);
}

/** part → part → the import lines that make that arrow. */
export function partGraph(server: string): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sources(server)) {
    const from = partOf(file, server);
    if (!graph.has(from)) graph.set(from, new Map());
    for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
      const target = normalize(join(dirname(file), spec));
      if (relative(server, target).startsWith('..')) continue;
      const to = partOf(target, server);
      if (to === from) continue;
      const arrows = graph.get(from)!;
      arrows.set(to, [...(arrows.get(to) ?? []), `${relative(ROOT, file)} → ${spec}`]);
    }
  }
  return graph;
}

/** Every cycle through the parts (each printed once, with the import that makes each arrow). */
export function cycles(graph: Map<string, Map<string, string[]>>): string[] {
  const found = new Set<string>();
  const out: string[] = [];
  const walk = (start: string, at: string, path: string[]): void => {
    for (const next of graph.get(at)?.keys() ?? []) {
      if (next === start) {
        const ring = [...path];
        const first = ring.indexOf([...ring].sort()[0]);
        const key = [...ring.slice(first), ...ring.slice(0, first)].join(' → ');
        if (found.has(key)) continue;
        found.add(key);
        const why = ring.map((p, i) => graph.get(p)!.get(ring[(i + 1) % ring.length])![0]);
        out.push(`${key} → ${ring[first]}  (${why.join('; ')})`);
      } else if (!path.includes(next) && next > start) {
        walk(start, next, [...path, next]);
      }
    }
  };
  for (const start of [...graph.keys()].sort()) walk(start, start, [start]);
  return out;
}

describe('the architecture of server/', () => {
  const server = join(ROOT, 'server');

  it('reads imports at run time and leaves type-only ones out', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import { type C, type D } from './c.js';",
      "import {\n  e,\n  type F,\n} from './e.js';",
      "export { g } from './g.js';",
      "export type { H } from './h.js';",
      "import './side.js';",
      "const { later } = await import('../later.js');",
      "import { z } from 'zod';",
    ].join('\n');
    expect(runtimeImports(text)).to.deep.equal(['./a.js', './e.js', './g.js', './side.js', '../later.js']);
  });

  it('finds a cycle when there is one, and prints it', () => {
    const g = new Map([
      ['a', new Map([['b', ['server/a/x.ts → ../b/y.js']]])],
      ['b', new Map([['c', ['server/b/y.ts → ../c/z.js']]])],
      ['c', new Map([['a', ['server/c/z.ts → ../a/x.js']]])],
      ['d', new Map([['a', ['server/d/w.ts → ../a/x.js']]])],
    ]);
    expect(cycles(g)).to.deep.equal(['a → b → c → a  (server/a/x.ts → ../b/y.js; server/b/y.ts → ../c/z.js; server/c/z.ts → ../a/x.js)']);
  });

  it('has no import cycle between its folders (nor its top-level modules)', () => {
    const graph = partGraph(server);
    expect(graph.size, 'parts found (the scan works)').to.be.greaterThan(15);
    expect(graph.get('results')?.has('store'), 'an arrow the scan must see').to.equal(true);
    expect(cycles(graph)).to.deep.equal([]);
  });

  it('keeps the store at the bottom: it imports nothing but itself and leaf modules', () => {
    const graph = partGraph(server);
    const leaves = new Set(['errors', 'protocol', 'redaction', 'urlMask']);
    const up = [...graph.get('store')!].filter(([to]) => !leaves.has(to)).flatMap(([, why]) => why);
    expect(up).to.deep.equal([]);
  });

  it('keeps the modules both sides share free of anything above them', () => {
    const graph = partGraph(server);
    for (const leaf of ['errors', 'redaction', 'urlMask', 'tokens']) {
      expect([...graph.get(leaf)?.keys() ?? []], leaf).to.deep.equal([]);
    }
    expect([...graph.get('protocol')!.keys()].sort()).to.deep.equal(['errors', 'redaction', 'urlMask']);
  });

  it('lets runner/ import only server/protocol.ts from the server', () => {
    const runner = join(ROOT, 'runner');
    const reached = new Set<string>();
    for (const file of sources(runner)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s*['"](\.[^'"]+)['"]/g)) {
        const target = relative(ROOT, normalize(join(dirname(file), m[1])));
        if (target.startsWith('server/')) reached.add(target);
      }
    }
    expect([...reached]).to.deep.equal(['server/protocol.js']);
  });
});
