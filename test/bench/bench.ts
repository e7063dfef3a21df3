/**
 * `npm run bench [-- --peer buildbot] [-- --quick]`: starts greengate on loopback (a real
 * `greengate serve` process and two runner processes, 2 slots each) and prints a JSON document
 * and a markdown table. Not a test: it prints figures. Definitions follow the Buildbot harness
 * in ../shared/peers/buildbot where they overlap: t_push is taken just before the ref update
 * lands (git update-ref) and the change notice (POST /api/changes) follows at once, like
 * Buildbot's t_submit before its change-hook POST; start and finish are the unit's start as
 * the runner reported it and the build's finish as the server recorded it (same host clock).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent as HttpAgent, request } from 'node:http';
import { openStore } from '../../server/store/index.js';
import { Repo, ServerProcess, ROOT, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';
import { measureHook } from './hook.js';
import { installHooks } from '../../server/gate/hookInstall.js';
import { ensureHookSecret, HOOK_SECRET_HEADER } from '../../server/gate/hookSecret.js';
import { peerFigures, runBuildbotPeer, type PeerFigures } from './peer.js';
import { measureLogToBrowser } from './ui.js';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const N_LATENCY = QUICK ? 5 : 15;
const N_BURST = QUICK ? 10 : 50;
const N_API = 20;

export function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  return { n: s.length, median: q(0.5), min: s[0], p90: q(0.9), p95: q(0.95), p99: q(0.99), max: s[s.length - 1] };
}
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

const agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
/** One HTTP request on a keep-alive connection; resolves with status, body and ms. */
function http(url: string, method = 'GET', body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; ms: number; serverMs: number | null }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: body ? { 'content-type': 'text/plain', ...headers } : headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d) => parts.push(d));
      const timing = /dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), ms: performance.now() - t0, serverMs: timing ? Number(timing[1]) : null }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

class Pusher {
  private tree: string;
  /** The hook secret header: change notices speak for the repository's hooks. */
  readonly auth: Record<string, string>;
  constructor(readonly bare: string, readonly repo: string, readonly server: () => string) {
    this.tree = execFileSync('git', ['--git-dir', bare, 'mktree'], { input: '', encoding: 'utf8' }).trim();
    this.auth = { [HOOK_SECRET_HEADER]: ensureHookSecret(bare) };
  }
  useTree(tree: string) { this.tree = tree; }
  /** A commit (on the empty tree, no parent) that no ref points at yet. */
  makeCommit(message: string): string {
    return execFileSync('git', ['--git-dir', this.bare, 'commit-tree', this.tree, '-m', message], {
      encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'b@x' },
    }).trim();
  }
  /** Commits on top of the branch head, updates the ref, and sends the change notice. Returns t_push (epoch ms). */
  async push(branch: string, message: string): Promise<{ sha: string; tPush: number; tNotice: number }> {
    const ref = `refs/heads/${branch}`;
    let parent: string | null = null;
    try { parent = execFileSync('git', ['--git-dir', this.bare, 'rev-parse', '--verify', '-q', ref], { encoding: 'utf8' }).trim(); } catch { /* new branch */ }
    const sha = execFileSync('git', ['--git-dir', this.bare, 'commit-tree', this.tree, ...(parent ? ['-p', parent] : []), '-m', message], {
      encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'b@x' },
    }).trim();
    const old = parent ?? '0'.repeat(40);
    const tPush = Date.now();
    execFileSync('git', ['--git-dir', this.bare, 'update-ref', ref, sha]);
    const tNotice = Date.now(); // Buildbot's t_submit: just before the change notice's POST
    await http(`${this.server()}/api/changes?repo=${this.repo}`, 'POST', `${old} ${sha} ${ref}\n`, this.auth);
    return { sha, tPush, tNotice };
  }
}

async function waitBuilt(server: ServerProcess, repo: string, sha: string, timeoutMs = 60_000): Promise<any> {
  return pollUntil(async () => {
    const { builds } = JSON.parse((await http(`${server.url}/api/builds?repo=${repo}&limit=100`)).body);
    const b = builds.find((x: any) => x.sha === sha && x.state === 'done');
    return b ? JSON.parse((await http(`${server.url}/api/builds/${b.id}`)).body) : null;
  }, `build of ${sha}`, timeoutMs, 5);
}

function vmHWM(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Writes the files into the bare repository as a tree (one folder level) and returns its id. */
function writeTree(bare: string, files: Record<string, string>): string {
  const gitIn = (args: string[], input: string) => execFileSync('git', ['--git-dir', bare, ...args], { input, encoding: 'utf8' }).trim();
  const byDir = new Map<string, string[]>();
  for (const [path, text] of Object.entries(files)) {
    const [dir, name] = path.includes('/') ? path.split('/') : ['', path];
    byDir.set(dir, [...(byDir.get(dir) ?? []), `100644 blob ${gitIn(['hash-object', '-w', '--stdin'], text)}\t${name}`]);
  }
  const top = byDir.get('') ?? [];
  for (const [dir, list] of byDir) if (dir) top.push(`040000 tree ${gitIn(['mktree'], list.join('\n') + '\n')}\t${dir}`);
  return gitIn(['mktree'], top.join('\n') + '\n');
}

async function main(): Promise<void> {
  const home = tempHome('gg-bench-');
  const say = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const repos = { trivial: new Repo(home.dir, 'trivial'), loglines: new Repo(home.dir, 'loglines'), sharded: new Repo(home.dir, 'sharded') };
  const config = writeConfig(home.dir, [
    { name: 'trivial', path: repos.trivial.bare, gate: ['main'], builders: [{ name: 'trivial', run: 'true' }] },
    { name: 'loglines', path: repos.loglines.bare, gate: [], builders: [{ name: 'loglines', run: 'seq 1 200000' }] },
    { name: 'sharded', path: repos.sharded.bare, gate: [], builders: [{ name: 'sharded', tests: 'shards/*.sh', run: 'for f in "$@"; do sh "$f"; done', unitTargetSeconds: 1 }] },
  ]);
  const server = await new ServerProcess(config).start();
  const pid = server.child.pid!;
  const runners = [startRunner(server.url, 'bench-1', home.dir, { slots: 2 }), startRunner(server.url, 'bench-2', home.dir, { slots: 2 })];
  const result: Record<string, unknown> = {
    system: 'greengate', started: new Date().toISOString(),
    host: { cpus: (await import('node:os')).cpus().length, node: process.version, kernel: (await import('node:os')).release() },
  };
  try {
    await pollUntil(async () => JSON.parse((await http(server.url + '/healthz')).body).runners === 2, 'runners to connect');
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const url = () => server.url;
    const peakByPhase: Record<string, number> = {};
    const heapByPhase: Record<string, Record<string, number>> = {};
    const phase = async (name: string) => {
      peakByPhase[name] = round(vmHWM(pid));
      // where the memory is: V8 heap (total reserved / used), buffers outside it, and RSS now
      const text = (await http(`${server.url}/metrics`)).body;
      const metric = (m: string) => round(Number(new RegExp(`^greengate_process_${m}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576);
      heapByPhase[name] = { rss: metric('process_resident_memory_bytes'), heap_total: metric('nodejs_heap_size_total_bytes'),
        heap_used: metric('nodejs_heap_size_used_bytes'), external: metric('nodejs_external_memory_bytes') };
    };
    await phase('idle');
    const trivial = new Pusher(repos.trivial.bare, 'trivial', url);

    say('latency: warm-up');
    for (let i = 0; i < 2; i++) await waitBuilt(server, 'trivial', (await trivial.push('main', `warm ${i}`)).sha);
    say(`latency: ${N_LATENCY} sequential pushes`);
    const assigned: number[] = [];
    const start: number[] = [];
    const finish: number[] = [];
    const ack: number[] = [];
    const noticeToStart: number[] = [];
    const noticeToFinish: number[] = [];
    for (let i = 0; i < N_LATENCY; i++) {
      const t0 = performance.now();
      const { sha, tPush, tNotice } = await trivial.push('main', `latency ${i}`);
      ack.push(performance.now() - t0);
      const b = await waitBuilt(server, 'trivial', sha);
      assigned.push(b.units[0].assignedAt - tPush);
      start.push(b.units[0].startedAt - tPush);
      finish.push(b.finishedAt - tPush);
      noticeToStart.push(b.units[0].startedAt - tNotice);
      noticeToFinish.push(b.finishedAt - tNotice);
      await new Promise((r) => setTimeout(r, 100));
    }
    await phase('latency');
    result.latency_trivial = { push_to_unit_assigned_ms: stats(assigned), push_to_unit_start_ms: stats(start), push_to_finish_ms: stats(finish), update_and_notice_ms: stats(ack),
      notice_to_unit_start_ms: stats(noticeToStart), notice_to_finish_ms: stats(noticeToFinish) };

    say('latency through a real git push (hooks, pack transfer, post-receive)');
    installHooks(repos.trivial.bare, { server: server.url, repo: 'trivial' });
    const gitPush: number[] = [];
    for (let i = 0; i < Math.min(N_LATENCY, 10); i++) {
      const sha = repos.trivial.commit({ [`f${i}.txt`]: String(i) }, `git push ${i}`);
      const t0 = Date.now();
      repos.trivial.push('HEAD:refs/heads/main', '--force');
      const b = await waitBuilt(server, 'trivial', sha);
      gitPush.push(b.finishedAt - t0);
    }
    result.latency_git_push = { git_push_start_to_finish_ms: stats(gitPush) };

    say(`throughput: ${N_BURST} pushes to ${N_BURST} branches`);
    // The commits are made first (untimed); the timed phase lands all refs at once and sends one
    // notice per push back to back on a keep-alive connection, like the Buildbot harness's POSTs.
    const tag = Date.now();
    const burst = Array.from({ length: N_BURST }, (_, i) => ({ ref: `refs/heads/burst-${tag}-${i}`, sha: trivial.makeCommit(`burst ${i}`) }));
    const t0 = Date.now();
    execFileSync('git', ['--git-dir', repos.trivial.bare, 'update-ref', '--stdin'], { input: burst.map((b) => `create ${b.ref} ${b.sha}\n`).join('') });
    for (const b of burst) await http(`${server.url}/api/changes?repo=trivial`, 'POST', `${'0'.repeat(40)} ${b.sha} ${b.ref}\n`, trivial.auth);
    const submitMs = Date.now() - t0;
    let lastFinish = 0;
    for (const b of burst) lastFinish = Math.max(lastFinish, (await waitBuilt(server, 'trivial', b.sha, 120_000)).finishedAt);
    const allMs = lastFinish - t0;
    await phase('throughput');
    result.throughput = { builds: N_BURST, submit_phase_ms: submitMs, first_push_to_all_finished_ms: allMs, builds_per_s: round(N_BURST / (allMs / 1000), 2) };

    say('log ingest: seq 1 200000');
    const logs = new Pusher(repos.loglines.bare, 'loglines', url);
    const lp = await logs.push('main', 'log lines');
    const lb = await waitBuilt(server, 'loglines', lp.sha);
    const tFetch = performance.now();
    const text = (await http(`${server.url}/api/units/${lb.units[0].id}/log`)).body;
    const fetchMs = performance.now() - tFetch;
    const lines = text.split('\n').filter((l) => /^\d+$/.test(l));
    const ordered = lines.length === 200000 && lines.every((l, i) => Number(l) === i + 1);
    await phase('log_ingest');
    result.log_ingest = {
      push_to_finish_ms: lb.finishedAt - lp.tPush, unit_start_to_finish_ms: lb.finishedAt - lb.units[0].startedAt,
      stored_bytes: lb.units[0].logBytes, stored_output_lines: lines.length, output_complete_and_ordered: ordered, raw_fetch_ms: round(fetchMs),
    };

    say('sharded: 4 files of sleep 2 on 2 runners x 2 slots');
    const sharded = new Pusher(repos.sharded.bare, 'sharded', url);
    sharded.useTree(writeTree(repos.sharded.bare, Object.fromEntries([1, 2, 3, 4].map((i) => [`shards/s${i}.sh`, 'sleep 2\n']))));
    await waitBuilt(server, 'sharded', (await sharded.push('main', 'warm-up: runner workspaces and learned durations')).sha);
    const sp = await sharded.push('main', 'four shards');
    const sb = await waitBuilt(server, 'sharded', sp.sha);
    const starts = sb.units.map((u: any) => u.startedAt);
    await phase('sharded');
    result.sharded = { push_to_finish_ms: sb.finishedAt - sp.tPush, units: sb.units.length,
      ran_concurrently: Math.max(...starts) - Math.min(...starts) < 1000, overhead_over_sleep_ms: sb.finishedAt - sp.tPush - 2000 };

    say('hook verdict (pre-receive against the real server, open tree, 10 commits)');
    const base = repos.trivial.commit({ 'h.txt': 'base' }, 'hook base');
    repos.trivial.push('HEAD:refs/heads/main', '--force');
    let head = base;
    for (let i = 0; i < 10; i++) head = repos.trivial.commit({ 'h.txt': `h${i}` }, `hook commit ${i}`);
    // the commits must exist in the bare repository for the hook to read them: push them to a side ref
    repos.trivial.push('HEAD:refs/try/hook-bench', '--force');
    const hook = await measureHook({ bareRepo: repos.trivial.bare, old: base, new: head, ref: 'refs/heads/main', n: QUICK ? 30 : 200 });
    await phase('hook');
    result.hook_verdict_ms = { p50: round(hook.p50, 2), p90: round(hook.p90, 2), p99: round(hook.p99, 2), max: round(hook.max, 2), refused: hook.failures };

    say('API and page render with 200 builds, then 10,000');
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    const api: Record<string, unknown> = {};
    for (const target of [200, 10_000]) {
      fillBuilds(store, target);
      const apiMs: number[] = [];
      const pageMs: number[] = [];
      const pageServerMs: number[] = [];
      await http(`${server.url}/api/builds?limit=200`);
      await http(`${server.url}/`);
      for (let i = 0; i < N_API; i++) apiMs.push((await http(`${server.url}/api/builds?limit=200`)).ms);
      for (let i = 0; i < N_API; i++) {
        const r = await http(`${server.url}/`);
        pageMs.push(r.ms);
        if (r.serverMs !== null) pageServerMs.push(r.serverMs);
      }
      api[`builds_${target}`] = { api_builds_limit_200_ms: round(stats(apiMs).median, 2), waterfall_page_ms: round(stats(pageMs).median, 2),
        waterfall_server_ms: pageServerMs.length ? round(stats(pageServerMs).median, 2) : null, waterfall_page_p95_ms: round(stats(pageMs).p95, 2) };
    }
    store.close();
    result.api = api;

    await phase('api_and_pages');
    result.server_peak_rss_vmhwm_mb = round(vmHWM(pid));
    result.server_peak_rss_by_phase_mb = peakByPhase;
    result.server_memory_at_phase_end_mb = heapByPhase;
  } finally {
    await Promise.all(runners.map((r) => stopChild(r)));
    await server.kill();
    home.cleanup();
    agent.destroy();
  }

  say('log line to browser (its own server, runner and headless Chromium)');
  const live = await measureLogToBrowser(QUICK ? 40 : 200);
  result.log_to_browser_ms = { p50: live.p50, p95: live.p95, max: live.max, n: live.n };

  let peer: PeerFigures | null = null;
  if (args.has('--peer') && (args.has('buildbot') || process.argv.includes('--peer=buildbot'))) {
    say('running the Buildbot peer harness (../shared/peers/buildbot)');
    peer = peerFigures(await runBuildbotPeer(join(ROOT, '..', 'shared', 'peers', 'buildbot')));
    result.peer = peer;
  }
  process.stdout.write(JSON.stringify(result, null, 1) + '\n\n');
  process.stdout.write(table(result, peer) + '\n');
  if (!existsSync(join(ROOT, 'docs'))) mkdirSync(join(ROOT, 'docs'));
  writeFileSync(join(ROOT, 'docs', 'bench-last.json'), JSON.stringify(result, null, 1) + '\n');
}

/** Inserts synthetic finished builds until the database holds `target`. */
function fillBuilds(store: ReturnType<typeof openStore>, target: number): void {
  const have = store.builds.count();
  if (have >= target) return;
  const repo = store.repos.byName('trivial')!;
  const now = Date.now();
  store.tx(() => {
    for (let i = have; i < target; i++) {
      const sha = (i.toString(16).padStart(8, '0') + 'f'.repeat(32)).slice(0, 40);
      store.repos.saveCommits(repo.id, [{ sha, author: `Dev ${i % 17}`, email: 'd@x', subject: `synthetic change ${i}`, committedAt: now }]);
      const id = store.builds.create({ repoId: repo.id, builder: 'trivial', ref: `refs/heads/syn-${i % 50}`, branch: `syn-${i % 50}`,
        kind: 'branch', sha, baseSha: null, changeId: null, pushedAt: now - 1000, at: now - 1000, blamelist: [sha] });
      const result = i % 10 === 0 ? 'failed' : 'passed';
      const unit = store.units.create({ buildId: id, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0, avoidRunnerId: null, lostCount: 0, at: now });
      // finished, not queued: a queued unit would be handed to the runners during the measurement
      store.units.finish(unit, { result, exitCode: result === 'failed' ? 1 : 0, signal: null, error: null, at: now });
      store.builds.finish(id, result, null, now);
    }
  });
}

function table(r: any, peer: PeerFigures | null): string {
  const rows: [string, string, string | null, string][] = [
    ['push → unit handed to a runner (= Buildbot build start)', `${r.latency_trivial.push_to_unit_assigned_ms.median} ms`, peer ? `${peer.startMs} ms` : null, '—'],
    ['push → command started (after checkout)', `${r.latency_trivial.push_to_unit_start_ms.median} ms`, null, '≤ 15 ms'],
    ['change notice → command started (t from just before the POST, as Buildbot\'s t_submit)', `${r.latency_trivial.notice_to_unit_start_ms.median} ms`, null, '—'],
    ['push → build finished (median)', `${r.latency_trivial.push_to_finish_ms.median} ms`, peer ? `${peer.finishMs} ms` : null, '≤ 60 ms'],
    ['real git push → build finished (median)', `${r.latency_git_push.git_push_start_to_finish_ms.median} ms`, null, '—'],
    [`throughput (${r.throughput.builds} pushes, 50 branches)`, `${r.throughput.builds_per_s} builds/s`, peer ? `${peer.buildsPerS} builds/s` : null, '≥ 25 builds/s'],
    ['200,000-line log: unit start → finished', `${r.log_ingest.unit_start_to_finish_ms} ms (complete: ${r.log_ingest.output_complete_and_ordered})`, peer ? `${Math.round(peer.logS * 1000)} ms` : null, '≤ 200 ms'],
    ['log line → browser (p50 / p95)', r.log_to_browser_ms ? `${r.log_to_browser_ms.p50} / ${r.log_to_browser_ms.p95} ms` : 'n/a', peer ? '5 s buffering' : null, 'p95 ≤ 200 ms'],
    ['GET /api/builds?limit=200, 200 builds', `${r.api.builds_200.api_builds_limit_200_ms} ms`, peer ? `${peer.apiMs} ms` : null, '≤ 2 ms'],
    ['GET /api/builds?limit=200, 10,000 builds', `${r.api.builds_10000.api_builds_limit_200_ms} ms`, null, '≤ 2 ms'],
    ['GET / (waterfall), 200 builds', `${r.api.builds_200.waterfall_page_ms} ms`, peer ? 'no UI' : null, '—'],
    ['GET / (waterfall), 10,000 builds', `${r.api.builds_10000.waterfall_page_ms} ms`, peer ? 'no UI' : null, '≤ 10 ms'],
    ['server peak memory (VmHWM)', `${r.server_peak_rss_vmhwm_mb} MB`, peer ? `${peer.rssMb} MB` : null, '≤ 80 MB'],
    ['sharded 4 × sleep 2, 2 runners × 2 slots', `${r.sharded.push_to_finish_ms} ms`, peer ? `${Math.round(peer.shardedS * 1000)} ms` : null, '≤ 2100 ms'],
    ['hook verdict p50 / p99', `${r.hook_verdict_ms.p50} / ${r.hook_verdict_ms.p99} ms`, null, 'p50 ≤ 25 ms, p99 ≤ 60 ms'],
  ];
  const head = peer ? '| measure | greengate | Buildbot 3.7 | target |\n|---|---|---|---|' : '| measure | greengate | target |\n|---|---|---|';
  return [head, ...rows.map(([m, g, b, t]) => (peer ? `| ${m} | ${g} | ${b ?? '—'} | ${t} |` : `| ${m} | ${g} | ${t} |`))].join('\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
