/**
 * `node dist/test/bench/fetch.js [--base DIR] [--n 20]`: the cost of getting the code to a
 * runner. Starts this checkout's server twice, each with one runner: `http` fetches over HTTP
 * into its mirror as a remote runner does (GREENGATE_RUNNER_FETCH=always), `sameHost` borrows
 * the server's objects as a runner on the server's host does; with `--base`, a second pair from another built checkout (e.g. the commit before
 * code over HTTP, whose runners cloned the server's local path), each with its own small
 * repository (20 files). Pushes alternate between the setups so load on a shared machine hits
 * both alike; each push changes one file. Prints push → unit start (as the runner reported it)
 * per setup as JSON. Not a test: it prints figures.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, RUNNER_TOKEN, Repo, gitEnv, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  return { n: s.length, median: q(0.5), min: s[0], p90: q(0.9), max: s[s.length - 1] };
}

const { values } = parseArgs({ options: { base: { type: 'string' }, n: { type: 'string' } } });
const N = Number(values.n ?? 20);

interface Setup { name: string; server: ChildProcess; runner: ChildProcess; url: string; repo: Repo; starts: number[] }

async function startSetup(name: string, root: string, home: string, runnerEnv: Record<string, string> = {}): Promise<Setup> {
  const dir = join(home, name);
  mkdirSync(dir, { recursive: true });
  const repo = new Repo(dir, 'small');
  const files: Record<string, string> = {};
  for (let i = 0; i < 20; i++) files[`src/file${i}.js`] = `export const value${i} = ${i};\n`.repeat(20);
  repo.commit(files, 'initial');
  repo.push();
  const config = writeConfig(dir, [{ name: 'small', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
  const cli = join(root, 'dist', 'server', 'cli.js');
  const server = spawn(process.execPath, ['--max-semi-space-size=1', cli, 'serve', '--config', config, '--port', '0'], {
    env: { ...process.env, GREENGATE_LOG_LEVEL: 'warn', PORT: '' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  server.stdout!.on('data', (d) => { out += d; });
  const m = await pollUntil(() => /serving (http:\/\/\S+)/.exec(out), `${name} server to start`, 20_000);
  const url = m[1].replace('localhost', '127.0.0.1');
  const runner = spawn(process.execPath, [cli, 'runner', '--server', url, '--name', `${name}-1`, '--slots', '1', '--work', join(dir, 'runner')], {
    env: { ...gitEnv(), GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN, ...runnerEnv }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  await pollUntil(async () => (await (await fetch(`${url}/healthz`)).json()).runners >= 1, `${name} runner to connect`);
  return { name, server, runner, url, repo, starts: [] };
}

async function pushOnce(s: Setup, i: number): Promise<void> {
  const sha = s.repo.commit({ [`src/file${i % 20}.js`]: `export const changed = ${i};\n` }, `change ${i}`);
  // The objects go in first under a ref no build follows; then, as bench.ts does, t_push, the ref update and the notice.
  execFileSync('git', ['push', '--quiet', 'origin', 'HEAD:refs/bench/staging'], { cwd: s.repo.work, env: gitEnv() });
  const old = execFileSync('git', ['--git-dir', s.repo.bare, 'rev-parse', `${sha}~1`], { encoding: 'utf8' }).trim();
  const tPush = Date.now();
  execFileSync('git', ['--git-dir', s.repo.bare, 'update-ref', 'refs/heads/main', sha]);
  await fetch(`${s.url}/api/changes?repo=small`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `${old} ${sha} refs/heads/main\n` });
  const build = await pollUntil(async () => {
    const { builds } = await (await fetch(`${s.url}/api/builds?repo=small&limit=5`)).json();
    const b = builds.find((x: any) => x.sha === sha && x.state === 'done');
    return b ? (await fetch(`${s.url}/api/builds/${b.id}`)).json() : null;
  }, `build of ${sha}`, 60_000, 5);
  if (build.result !== 'passed') throw new Error(`${s.name}: build ${build.id} ${build.result}`);
  s.starts.push(build.units[0].startedAt - tPush);
}

async function main(): Promise<void> {
  const home = tempHome('gg-bench-fetch-');
  const setups: Setup[] = [];
  try {
    setups.push(await startSetup('http', ROOT, home.dir, { GREENGATE_RUNNER_FETCH: 'always' }));
    setups.push(await startSetup('sameHost', ROOT, home.dir));
    if (values.base) setups.push(await startSetup('base', values.base, home.dir));
    for (let i = 0; i < N + 2; i++) {
      for (const s of i % 2 ? [...setups].reverse() : setups) await pushOnce(s, i);
      if (i === 1) for (const s of setups) s.starts.length = 0; // the first pushes warm up (mirror and workspace clone)
    }
    const result = Object.fromEntries(setups.map((s) => [s.name, stats(s.starts)]));
    const median = (name: string) => stats(setups.find((s) => s.name === name)!.starts).median;
    const added = values.base ? { http_added_median_ms: median('http') - median('base'), sameHost_added_median_ms: median('sameHost') - median('base') } : {};
    process.stdout.write(JSON.stringify({ n: N, push_to_start_ms: result, ...added }, null, 2) + '\n');
  } finally {
    for (const s of setups) { await stopChild(s.runner); await stopChild(s.server); }
    home.cleanup();
  }
}

main().catch((err) => { process.stderr.write(`bench: ${err.stack ?? err}\n`); process.exit(1); });
