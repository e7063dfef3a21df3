/**
 * `npm run bench:steps [-- --before DIST_CLI]`: push → command start and push → finished of a
 * one-step builder (`run: true`), and push → finished of a three-step pipeline (build → test
 * sharded over 4 files → package, every command `true`) against the steps' own time. With
 * `--before`, the one-step figures are also taken from another build of greengate (e.g. the
 * commit before steps, compiled elsewhere) in the same run, alternating server by server.
 * Not a test: it prints a JSON document and a markdown table. Push and notice as bench.ts does
 * (git update-ref, then POST /api/changes); times from the API (same host clock).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CLI, RUNNER_TOKEN, Repo, gitEnv, pollUntil, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';
import { ensureHookSecret, HOOK_SECRET_HEADER } from '../../server/gate/hookSecret.js';

const argv = process.argv.slice(2);
const BEFORE = argv.includes('--before') ? argv[argv.indexOf('--before') + 1] : null;
const N = argv.includes('--quick') ? 5 : 15;

const PIPELINE = { name: 'pipeline', steps: [
  { name: 'build', run: 'true' },
  { name: 'test', run: 'true', tests: 'shards/*.sh', unitTargetSeconds: 0.1 },
  { name: 'package', run: 'true' },
] } as unknown as BuilderSpec;

interface Running { url: string; server: ChildProcess; runners: ChildProcess[] }

async function start(cli: string, home: string, config: string): Promise<Running> {
  const server = spawn(process.execPath, [cli, 'serve', '--config', config, '--port', '0'],
    { env: { ...process.env, GREENGATE_LOG_LEVEL: 'warn', PORT: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d) => { out += d; });
  server.stderr!.on('data', (d) => { out += d; });
  const url = (await pollUntil(() => /serving (http:\/\/\S+)/.exec(out), 'the server to start', 15_000))[1].replace('localhost', '127.0.0.1');
  const runners = [1, 2].map((i) => spawn(process.execPath, [cli, 'runner', '--server', url, '--name', `r${i}`, '--slots', '2',
    '--work', join(home, `runners-${i}`)], { env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: 'ignore' }));
  await pollUntil(async () => (await (await fetch(`${url}/healthz`)).json()).runners === 2, 'runners to connect');
  return { url, server, runners };
}

async function stop(r: Running): Promise<void> {
  for (const c of r.runners) await stopChild(c);
  await stopChild(r.server);
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  return { n: s.length, median: q(0.5), min: s[0], p90: q(0.9), max: s[s.length - 1] };
}

/** A commit on the branch head made in the bare repository (same tree), the ref landed (t_push), the change notice sent. */
async function push(url: string, repo: Repo, name: string, i: number, secret: string): Promise<{ sha: string; tPush: number }> {
  const bare = (...args: string[]) => execFileSync('git', ['--git-dir', repo.bare, ...args], { encoding: 'utf8', env: gitEnv() }).trim();
  const old = bare('rev-parse', 'refs/heads/main');
  const sha = bare('commit-tree', `${old}^{tree}`, '-p', old, '-m', `push ${i}`);
  const tPush = Date.now();
  execFileSync('git', ['--git-dir', repo.bare, 'update-ref', 'refs/heads/main', sha]);
  await fetch(`${url}/api/changes?repo=${name}`, { method: 'POST', body: `${old} ${sha} refs/heads/main\n`,
    headers: { 'content-type': 'text/plain', [HOOK_SECRET_HEADER]: secret } });
  return { sha, tPush };
}

async function built(url: string, name: string, sha: string): Promise<any> {
  return pollUntil(async () => {
    const { builds } = await (await fetch(`${url}/api/builds?repo=${name}&limit=20`)).json() as { builds: any[] };
    const b = builds.find((x) => x.sha === sha && x.state === 'done');
    return b ? (await fetch(`${url}/api/builds/${b.id}`)).json() : null;
  }, `build of ${sha}`, 60_000, 5);
}

/** One server of `cli`: N pushes of the one-step builder, then (when it has steps) N of the pipeline. */
async function measure(cli: string, withSteps: boolean): Promise<Record<string, unknown>> {
  const home = tempHome('gg-bench-steps-');
  const one = new Repo(home.dir, 'one');
  const piped = new Repo(home.dir, 'piped');
  one.commit({ 'a.txt': 'a' }, 'first');
  piped.commit(Object.fromEntries([1, 2, 3, 4].map((i) => [`shards/s${i}.sh`, 'true\n'])), 'first');
  for (const r of [one, piped]) git(r, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
  const config = writeConfig(home.dir, [
    { name: 'one', path: one.bare, gate: [], builders: [{ name: 'one', run: 'true' }] },
    ...(withSteps ? [{ name: 'piped', path: piped.bare, gate: [], builders: [PIPELINE] }] : []),
  ]);
  const r = await start(cli, home.dir, config);
  try {
    const out: Record<string, unknown> = {};
    const secretOf = (repo: Repo) => ensureHookSecret(repo.bare);
    const startMs: number[] = [];
    const finishMs: number[] = [];
    for (let i = 0; i < N + 2; i++) {
      const { sha, tPush } = await push(r.url, one, 'one', i, secretOf(one));
      const b = await built(r.url, 'one', sha);
      if (i < 2) continue; // warm-up
      startMs.push(b.units[0].startedAt - tPush);
      finishMs.push(b.finishedAt - tPush);
    }
    out.one_step = { push_to_command_start_ms: stats(startMs), push_to_finished_ms: stats(finishMs) };
    if (withSteps) {
      const total: number[] = [];
      const own: number[] = [];
      const overhead: number[] = [];
      for (let i = 0; i < N + 2; i++) {
        const { sha, tPush } = await push(r.url, piped, 'piped', i, secretOf(piped));
        const b = await built(r.url, 'piped', sha);
        if (b.result !== 'passed') throw new Error(`pipeline build ${b.id}: ${b.result} ${b.reason}`);
        if (i < 2) continue;
        // The steps' own time: per step, its longest unit from command start to end (the commands themselves).
        const ownMs = b.steps.reduce((sum: number, s: any) => sum + Math.max(...b.units.filter((u: any) => u.step === s.name)
          .map((u: any) => u.finishedAt - u.startedAt)), 0);
        total.push(b.finishedAt - tPush);
        own.push(ownMs);
        overhead.push(b.finishedAt - tPush - ownMs);
      }
      out.three_steps = { units: 'build 1, test 2+ (4 files), package 1', push_to_finished_ms: stats(total), steps_own_ms: stats(own), overhead_ms: stats(overhead) };
    }
    return out;
  } finally {
    await stop(r);
    home.cleanup();
  }
}

function git(r: Repo, ...args: string[]): void { execFileSync('git', args, { cwd: r.work, env: gitEnv(), stdio: 'ignore' }); }

async function main(): Promise<void> {
  const result: Record<string, unknown> = { started: new Date().toISOString(), node: process.version, n: N };
  // Alternate before and after twice so a busy moment of the shared machine does not fall on one side only.
  const rounds = BEFORE ? 2 : 1;
  for (let round = 0; round < rounds; round++) {
    if (BEFORE) result[`before_${round + 1}`] = await measure(BEFORE, false);
    result[`after_${round + 1}`] = await measure(CLI, true);
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => { process.stderr.write(`${err.stack}\n`); process.exit(1); });
