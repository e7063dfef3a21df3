/**
 * `npm run bench:sandbox`: what the unit sandbox (runner/sandbox.ts) costs per command — `sh -c
 * true` spawned RUNS times as it is, inside bwrap with the host's network, and inside bwrap with
 * a private network, in a throwaway slot. Prints median, min, max and mean milliseconds of each.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY, chooseSandbox, findBwrap } from '../../runner/sandbox.js';
import { tempHome } from '../helpers.js';

const RUNS = Number(process.env.RUNS ?? 20);
const bwrap = findBwrap();
if (!bwrap) throw new Error('bwrap is not on PATH: apt-get install bubblewrap');
const home = tempHome('gg-bench-sandbox-');
const work = join(home.dir, 'runner');
const slot = join(work, 'shop', 'slot-0');
mkdirSync(join(slot, '.git'), { recursive: true });
const { sandbox } = chooseSandbox('bwrap', { root: process.getuid?.() === 0, bwrap });
const place = { workspace: slot, workDir: work, hide: [] };
const variants: [string, (argv: string[]) => string[]][] = [
  ['no sandbox', (argv) => argv],
  ['bwrap, network: true', (argv) => sandbox.wrap(argv, place, DEFAULT_POLICY)],
  ['bwrap, network: false', (argv) => sandbox.wrap(argv, place, { ...DEFAULT_POLICY, network: false })],
];
try {
  for (const [label, wrap] of variants) {
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const argv = wrap(['sh', '-c', 'true']);
      const started = performance.now();
      const r = spawnSync(argv[0], argv.slice(1), { cwd: slot });
      if (r.status !== 0) throw new Error(`${label}: exit ${r.status}: ${r.stderr}`);
      ms.push(performance.now() - started);
    }
    ms.sort((a, b) => a - b);
    const f = (n: number) => n.toFixed(1);
    console.log(`${label.padEnd(22)} median ${f(ms[Math.floor(RUNS / 2)])} ms  min ${f(ms[0])}  max ${f(ms[RUNS - 1])}  mean ${f(ms.reduce((a, b) => a + b, 0) / RUNS)}  (${RUNS} runs)`);
  }
} finally {
  home.cleanup();
}
