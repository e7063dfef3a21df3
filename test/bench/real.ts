/**
 * `npm run bench:real -- --node SRC [--jest SRC | --mocha SRC]`: real projects' suites, side by
 * side on this machine (issue 12). Not a test: it prints figures, and with `--write` puts them
 * into docs/benchmarks.md (its "`npm run bench:real`" section, replaced when there).
 *
 * SRC is a local path or a git URL; `--node-commit SHA` (likewise --jest-commit, --mocha-commit)
 * picks the commit, else the default branch's head. `--node-tests GLOB` (…) picks the test files
 * (defaults below), `--node-name` the name shown, `--node-flags` options added after the test
 * runner's name in every command (e.g. `--mocha-flags '--require @babel/register'`), `--node-env`
 * variables set for every command (`K=V K2=V2`). For each project: a clone, `npm ci` (timed with an
 * empty npm cache, as a new runner's sandboxed setup has, then with the user's warm one, then `npm install
 * --prefer-offline` and `npm ci` again with node_modules present, timed: what a setup costs on a
 * warm workspace), the suite serial and in the test runner's own parallel mode at the machine's
 * core count, then greengate: a real server, one runner with one slot per core, a push of the
 * commit (cold: new runner workspaces, nothing learned) and a push of an empty commit on top
 * (warm: the workspace cache and learned durations), then the commit again to a new server with the
 * same runner, its slots and workspace caches removed (cold on a used runner: nothing learned, only
 * its package cache kept). The ratios the issue sets: warm ÷ the runner's own best (serial or
 * parallel), cold ÷ (the matching install + own best). Every greengate figure is push (ref
 * update, change notice just after) → build finished as the server recorded it; the local ones
 * are the command's wall time. Only the npm registry is needed (for the installs).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { ROOT, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';

type Kind = 'node' | 'jest' | 'mocha';
interface Project { kind: Kind; src: string; commit: string | null; tests: string; name: string | null; flags: string; env: string }
interface Run { ms: number; ok: boolean; summary: string }
interface GgRun { ms: number; result: string; units: number; setupMs: number[]; hits: number; misses: number; testsRecorded: number; slotSpread: number; advice: string[]; load: number; timeline: { files: number; assigned: number; started: number; finished: number; setupMs: number | null; cacheHit: boolean | null }[] }

const SLOTS = availableParallelism();
const DEFAULT_TESTS: Record<Kind, string> = { node: 'test/**/*.test.{js,mjs}', jest: 'tests/**/*.test.{js,ts}', mocha: 'test/**/*.js' };
const BUILD_TIMEOUT_MS = 20 * 60_000; // 20 minutes for one build

/** The suite's commands, per test runner: files come last (greengate gives them as "$@"). */
const RECIPES: Record<Kind, { serial: string; parallel: string; unit: string; junit: string; setupExtra: string }> = {
  node: {
    serial: 'node --test --test-concurrency=1',
    parallel: `node --test --test-concurrency=${SLOTS}`,
    unit: 'node --test --test-concurrency=1 --test-reporter="$GREENGATE_NODE_TEST_REPORTER" --test-reporter-destination=junit.xml --test-reporter=dot --test-reporter-destination=stdout "$@"',
    junit: 'junit.xml', setupExtra: '',
  },
  jest: { // one worker process, never in band: in band, the tests see jest's own argv (commander.js's parse() tests fail)
    serial: 'npx jest --ci -w 1 --workerIdleMemoryLimit=4GB --runTestsByPath',
    parallel: `npx jest --ci -w ${SLOTS} --runTestsByPath`,
    unit: 'JEST_JUNIT_OUTPUT_NAME=junit.xml JEST_JUNIT_ADD_FILE_ATTRIBUTE=true npx jest --ci -w 1 --workerIdleMemoryLimit=4GB --coverage=false --reporters=default --reporters=jest-junit --runTestsByPath "$@"',
    junit: 'junit.xml', setupExtra: ' && npm install --no-save --no-audit --no-fund jest-junit',
  },
  mocha: {
    serial: 'npx mocha',
    parallel: `npx mocha --parallel -j ${SLOTS}`,
    unit: 'npx mocha --reporter xunit --reporter-option output=junit.xml "$@"',
    junit: 'junit.xml', setupExtra: '',
  },
};

function parseArgs(argv: string[]): { projects: Project[]; write: boolean } {
  const get = (flag: string) => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] ?? null : null; };
  const projects: Project[] = [];
  for (const kind of ['node', 'jest', 'mocha'] as Kind[]) {
    const src = get(`--${kind}`);
    if (src) {
      projects.push({ kind, src, commit: get(`--${kind}-commit`), tests: get(`--${kind}-tests`) ?? DEFAULT_TESTS[kind], name: get(`--${kind}-name`),
        flags: get(`--${kind}-flags`) ?? '', env: get(`--${kind}-env`) ?? '' });
    }
  }
  if (!projects.length) {
    process.stderr.write('usage: npm run bench:real -- --node SRC [--node-commit SHA] [--node-tests GLOB] ' +
      '[--node-name NAME] [--node-flags FLAGS] [--node-env K=V…] [--jest SRC | --mocha SRC] [… -commit, -tests, -name, -flags, -env] [--write]\nSRC: a local path or git URL of a project with 100+ test files\n');
    process.exit(2);
  }
  return { projects, write: argv.includes('--write') };
}

const say = (s: string) => process.stderr.write(`bench:real: ${s}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Runs a shell command in cwd; wall time, exit status and the last summary-looking lines of its output. */
function timed(command: string, cwd: string, args: string[] = [], extraEnv: Record<string, string> = {}): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', `${command} "$@"`, 'sh', ...args], { cwd, env: { ...process.env, CI: 'true', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d: Buffer) => { tail = (tail + d.toString('utf8')).slice(-20_000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => {
      const lines = tail.split('\n').map((l) => l.trim());
      const summary = lines.filter((l) => /^# (tests|pass|fail|cancelled) \d+|^Tests:|^\d+ (passing|failing|pending)|ℹ (tests|pass|fail) \d+/.test(l)).join('; ');
      resolve({ ms: performance.now() - t0, ok: code === 0, summary: summary || (code === 0 ? '' : lines.filter(Boolean).slice(-3).join(' | ')) });
    });
  });
}

/** The project's commands: its flags after the runner's name, its variables before each command. */
function withFlags(p: Project): typeof RECIPES[Kind] {
  const base = RECIPES[p.kind];
  const runner = { node: /^node --test/, jest: /^(JEST_JUNIT_\w+=\S+ )*npx jest/, mocha: /^npx mocha/ }[p.kind];
  const adapt = (command: string) => `${p.env ? `${p.env} ` : ''}${p.flags ? command.replace(runner, (m) => `${m} ${p.flags}`) : command}`;
  return { ...base, serial: adapt(base.serial), parallel: adapt(base.parallel), unit: adapt(base.unit) };
}

async function pushAndWait(server: ServerProcess, bare: string, sha: string): Promise<GgRun> {
  const ref = 'refs/heads/main';
  let old = '0'.repeat(40);
  try { old = git(bare, 'rev-parse', '--verify', '-q', ref); } catch { /* first push */ }
  const load = loadavg()[0];
  const tPush = Date.now();
  git(bare, 'update-ref', ref, sha);
  await fetch(`${server.url}/api/changes?repo=real`, { method: 'POST', body: `${old} ${sha} ${ref}\n` });
  const b = await pollUntil(async () => {
    const found = (await server.builds('repo=real&limit=20')).find((x) => x.sha === sha && x.state === 'done');
    return found ? server.build(found.id) : null;
  }, `the build of ${sha.slice(0, 8)}`, BUILD_TIMEOUT_MS, 200);
  const current = b.units.filter((u: any) => !b.units.some((v: any) => v.retryOf === u.id));
  return {
    ms: b.finishedAt - tPush, result: b.result, units: current.length,
    setupMs: b.units.filter((u: any) => u.cacheHit !== null).map((u: any) => u.setupMs),
    hits: b.units.filter((u: any) => u.cacheHit === true).length, misses: b.units.filter((u: any) => u.cacheHit === false).length,
    testsRecorded: b.tests?.length ?? 0, slotSpread: slotSpread(current, b.startedAt ?? tPush),
    advice: Array.isArray(b.contention) ? b.contention : [], load,
    // Each unit, in ms from the push: where a build's time goes (assign, setup, command).
    timeline: current.map((u: any) => ({ files: u.files?.length ?? 0, assigned: u.assignedAt - tPush, started: u.startedAt - tPush,
      finished: u.finishedAt - tPush, setupMs: u.setupMs, cacheHit: u.cacheHit })),
  };
}

/**
 * How far apart the slots finished, as a share of the build's run: units are put back on the
 * runner's SLOTS slots in the order they were assigned (each on the slot free first, as the
 * runner takes them), and the spread is (last slot's end − first slot's end) ÷ (last end − start).
 */
export function slotSpread(units: { assignedAt: number | null; finishedAt: number | null }[], start: number): number {
  const ran = units.filter((u) => u.assignedAt !== null && u.finishedAt !== null).sort((a, b) => a.assignedAt! - b.assignedAt!);
  const ends = new Array<number>(Math.min(SLOTS, Math.max(1, ran.length))).fill(start);
  for (const u of ran) {
    const slot = ends.indexOf(Math.min(...ends));
    ends[slot] = Math.max(ends[slot], u.finishedAt!);
  }
  const last = Math.max(...ends);
  return last > start ? (last - Math.min(...ends)) / (last - start) : 0;
}

/**
 * A cold build on a runner that has built this repository before: a new server (nothing learned:
 * the cold plan) and the same runner work dir without its slots and workspace caches, so only its
 * package cache (runner/packageCache.ts) is left — as for a new builder or a runner given a new
 * project. Compared with the local install on the user's warm npm cache.
 */
async function usedRunnerCold(dir: string, bare: string, sha: string, builder: BuilderSpec): Promise<GgRun> {
  const work = join(dir, 'runners', 'real-1');
  for (const repoDir of readdirSync(work, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'mirrors')) {
    for (const entry of readdirSync(join(work, repoDir.name))) if (entry !== 'packages') rmSync(join(work, repoDir.name, entry), { recursive: true, force: true });
  }
  const again = join(dir, 'again');
  mkdirSync(again, { recursive: true });
  execFileSync('git', ['--git-dir', bare, 'update-ref', '-d', 'refs/heads/main']);
  const server = await new ServerProcess(writeConfig(again, [{ name: 'real', path: bare, gate: [], builders: [builder] }])).start();
  const runner = startRunner(server.url, 'real-1', dir, { slots: SLOTS });
  try {
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
    return await pushAndWait(server, bare, sha);
  } finally {
    await stopChild(runner);
    await server.kill();
  }
}

async function benchProject(p: Project) {
  const home = tempHome('gg-real-');
  try {
    const local = join(home.dir, 'local');
    say(`${p.kind}: cloning ${p.src}`);
    execFileSync('git', ['clone', '--quiet', p.src, local], { stdio: 'inherit' });
    const sha = git(local, 'rev-parse', '--verify', `${p.commit ?? 'HEAD'}^{commit}`);
    git(local, 'checkout', '--quiet', '--detach', sha);
    const name = p.name ?? /([^/]+?)(\.git)?\/?$/.exec(p.src)?.[1] ?? p.src;
    const match = picomatch(p.tests);
    const files = git(local, 'ls-files').split('\n').filter((f) => match(f));
    if (files.length === 0) throw new Error(`no file at ${sha} matches --${p.kind}-tests ${p.tests}`);
    // Without a lockfile there is no npm ci and no default cache key: npm install, keyed by package.json.
    const locked = existsSync(join(local, 'package-lock.json'));
    const installCommand = (locked ? 'npm ci --no-audit --no-fund' : 'npm install --no-audit --no-fund') + RECIPES[p.kind].setupExtra;
    say(`${name}@${sha.slice(0, 12)}: ${files.length} test files; ${installCommand} (cold)`);
    // First with an empty package cache (what a new runner's sandboxed setup has), then with the user's (warm) one.
    const emptyCache = await timed(installCommand, local, [], { npm_config_cache: join(home.dir, 'npm-empty') });
    if (!emptyCache.ok) throw new Error(`${installCommand} with an empty npm cache failed in ${local}: ${emptyCache.summary}`);
    rmSync(join(local, 'node_modules'), { recursive: true, force: true });
    const install = { ci: await timed(installCommand, local), emptyCache };
    if (!install.ci.ok) throw new Error(`${installCommand} failed in ${local}: ${install.ci.summary}`);
    const warmInstall = await timed('npm install --prefer-offline --no-audit --no-fund', local);
    const warmCi = locked ? await timed('npm ci --prefer-offline --no-audit --no-fund' + RECIPES[p.kind].setupExtra, local) : { ms: NaN, ok: true, summary: 'no lockfile' };
    say(`${name}: installs ${sec(emptyCache.ms)} with an empty npm cache, ${sec(install.ci.ms)} cold (warm npm cache), ${sec(warmInstall.ms)} npm install warm, ${sec(warmCi.ms)} npm ci warm; serial run`);
    const recipe = withFlags(p);
    const loads = { serial: loadavg()[0], parallel: 0 };
    const serial = await timed(recipe.serial, local, files);
    loads.parallel = loadavg()[0];
    say(`${name}: serial ${sec(serial.ms)} (${serial.summary}); parallel run`);
    const parallel = await timed(recipe.parallel, local, files);
    say(`${name}: parallel ${sec(parallel.ms)} (${parallel.summary}); greengate`);

    const bare = join(home.dir, 'git', 'real.git');
    execFileSync('git', ['clone', '--quiet', '--bare', local, bare]);
    for (const ref of git(bare, 'for-each-ref', '--format=%(refname)', 'refs/heads', 'refs/tags').split('\n').filter(Boolean)) git(bare, 'update-ref', '-d', ref);
    const builder: BuilderSpec = {
      name: 'suite', setup: installCommand, tests: p.tests, ...(locked ? {} : { cache: [{ paths: ['node_modules'], key: ['package.json'] }] }),
      run: recipe.unit, junit: recipe.junit, timeout: 600,
    };
    const config = writeConfig(home.dir, [{ name: 'real', path: bare, gate: [], builders: [builder] }]);
    const server = await new ServerProcess(config).start();
    const runner = startRunner(server.url, 'real-1', home.dir, { slots: SLOTS });
    try {
      await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner to connect');
      const cold = await pushAndWait(server, bare, sha);
      say(`${name}: greengate cold ${sec(cold.ms)} (${cold.result}, ${cold.units} units)`);
      const env = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'b@x' };
      const empty = execFileSync('git', ['--git-dir', bare, 'commit-tree', `${sha}^{tree}`, '-p', sha, '-m', 'bench: warm'], { encoding: 'utf8', env }).trim();
      const warm = await pushAndWait(server, bare, empty);
      say(`${name}: greengate warm ${sec(warm.ms)} (${warm.result}, ${warm.units} units, cache ${warm.hits} hit / ${warm.misses} miss)`);
      await stopChild(runner);
      await server.kill();
      const used = await usedRunnerCold(home.dir, bare, sha, builder);
      say(`${name}: greengate cold on a used runner ${sec(used.ms)} (${used.result}, ${used.units} units, cache ${used.hits} hit / ${used.misses} miss)`);
      return { name, kind: p.kind, src: p.src, sha, locked, files: files.length, install, warmInstall, warmCi, serial, parallel, cold, warm, used, loads };
    } finally {
      await stopChild(runner);
      await server.kill();
    }
  } finally {
    home.cleanup();
  }
}

type Result = Awaited<ReturnType<typeof benchProject>>;

function table(results: Result[]): string {
  const head = '| project | serial | own parallel (' + SLOTS + ') | greengate cold | greengate warm | warm ÷ own parallel |\n|---|---|---|---|---|---|\n';
  const rows = results.map((r) => {
    const gg = (g: GgRun) => `${sec(g.ms)} (${g.result}, ${g.units} units, slots ${(100 * g.slotSpread).toFixed(1)} % apart, setup ${g.setupMs.length ? `${sec(Math.min(...g.setupMs))}–${sec(Math.max(...g.setupMs))}` : '—'}, cache ${g.hits} hit / ${g.misses} miss)`;
    const local = (x: Run) => `${sec(x.ms)}${x.ok ? '' : ' (exit ≠ 0)'}`;
    return `| ${r.name} (${r.kind}, ${r.files} files) | ${local(r.serial)} | ${local(r.parallel)} | ${gg(r.cold)} | ${gg(r.warm)} | ${(r.warm.ms / r.parallel.ms).toFixed(2)}× |`;
  });
  const ratios = results.map((r) => {
    const best = Math.min(r.serial.ms, r.parallel.ms);
    const bestName = r.serial.ms <= r.parallel.ms ? 'serial' : `own parallel (${SLOTS})`;
    const load = (x: number) => x.toFixed(1);
    return `| ${r.name} | ${sec(best)} (${bestName}) | ${(r.warm.ms / best).toFixed(2)}× | ${(r.cold.ms / (r.install.emptyCache.ms + best)).toFixed(2)}× (${sec(r.cold.ms)} ÷ ${sec(r.install.emptyCache.ms)} + ${sec(best)}) | ` +
      `${(r.used.ms / (r.install.ci.ms + best)).toFixed(2)}× (${sec(r.used.ms)} ÷ ${sec(r.install.ci.ms)} + ${sec(best)}) | ${r.warm.testsRecorded} | ` +
      `${r.warm.advice.length ? r.warm.advice.join('; ') : `none: ${SLOTS} slots stand`} | ${load(r.loads.serial)} / ${load(r.loads.parallel)} / ${load(r.cold.load)} / ${load(r.warm.load)} / ${load(r.used.load)} |`;
  });
  const installs = results.map((r) => `| ${r.name} | ${sec(r.install.ci.ms)}${r.locked ? '' : ' (`npm install`: no lockfile)'} | ${sec(r.warmInstall.ms)} | ${r.locked ? sec(r.warmCi.ms) : '—'} |`);
  const suites = results.map((r) => `- ${r.name}: serial: ${r.serial.summary || '—'}; parallel: ${r.parallel.summary || '—'}`);
  const ratioHead = '| project | own best | warm ÷ own best (target ≤ 1.0) | cold, new runner ÷ (install, empty npm cache + own best) (target ≤ 1.1) | cold, used runner ÷ (install, warm npm cache + own best) (target ≤ 1.1) | tests recorded (warm) | greengate\'s slot advice (warm build) | 1-min load: serial / parallel / cold / warm / used |\n|---|---|---|---|---|---|---|---|\n';
  return `${head}${rows.join('\n')}\n\n${ratioHead}${ratios.join('\n')}\n\n| project | \`npm ci\`, cold | \`npm install --prefer-offline\`, node_modules present | \`npm ci\`, node_modules present |\n|---|---|---|---|\n${installs.join('\n')}\n\nWhat the suites reported:\n${suites.join('\n')}\n`;
}

const SECTION = '## `npm run bench:real` (issue 12)';

function writeSection(results: Result[], started: string): void {
  const file = join(ROOT, 'docs', 'benchmarks.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const projects = results.map((r) => `${r.name} at \`${r.sha}\` (${r.src})`).join('; ');
  const body = `${SECTION}\n\nRun of ${started}: ${projects}. Machine: ${cpus().length} CPUs, Linux ${release()}, Node ${process.version}; ` +
    `greengate on 1 runner × ${SLOTS} slots, server, runner and the local runs on the same machine (shared with other work).\n\n${table(results)}`;
  const start = text.indexOf(SECTION);
  const next = start < 0 ? -1 : text.indexOf('\n## ', start + SECTION.length);
  const out = start < 0 ? `${text.trimEnd()}\n\n${body}` : `${text.slice(0, start)}${body}${next < 0 ? '' : text.slice(next)}`;
  writeFileSync(file, out.endsWith('\n') ? out : `${out}\n`);
  say(`wrote ${file}`);
}

async function main(): Promise<void> {
  const { projects, write } = parseArgs(process.argv.slice(2));
  const started = new Date().toISOString();
  const results: Result[] = [];
  for (const p of projects) results.push(await benchProject(p));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n\n' + table(results));
  if (write) writeSection(results, started);
}

main().catch((err) => { process.stderr.write(`bench:real: ${(err as Error).stack ?? err}\n`); process.exit(1); });
