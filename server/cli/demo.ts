/**
 * `greengate demo`: a newcomer's first run. Under ./.greengate/demo it makes a sample
 * repository with a small node --test suite, installs the hooks, starts the server and two
 * runner processes, and pushes a short history: a green build, then three commits at once, the
 * second breaking a test: the red build closes the tree, greengate's culprit search bisects the
 * three and names the second, reverts it by itself (autoRevert), and the revert's green build
 * reopens the tree. Each green head is deployed (demoApp.ts: a prom-client web app, canary then
 * production, each stage's /metrics watched by scraping); the last push raises the app's error
 * rate, and the immune system rolls it back and closes the tree. Feature flags (issue 25 item 8): the
 * repository's flags.json is served to the app, which reads it through OpenFeature's SDK and OFREP
 * provider (demoApp.ts); greengate.yml ramps `new-checkout` (a guarded rollout reading the canary
 * app's /metrics) whose new checkout fails more, so the immune system kills it mid-ramp; the app's
 * purchases make `checkout-button` an A/B test whose experiment page reaches a verdict. A second run reuses what is
 * there, says so, and starts the deployed apps again (their processes ended with the previous
 * run), or says which stage's app is stopped. Ctrl-C stops all of it.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../config/config.js';
import { startServer, createLogger, type RunningServer } from '../main.js';
import { installProcessGuard } from '../storageHealth.js';
import { installHooks } from '../gate/hookInstall.js';
import { appFiles, BAD_ERROR_RATE, CHECKOUT_ERROR_RATES, DEMO_FLAGS, demoDeploy, demoStageSandbox, demoStages, flagsTokenFile, freePort,
  restartApps, stopApps } from './demoApp.js';
import { fail } from '../errors.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

/** `word` quoted for a POSIX shell when it needs it. */
const sh = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** The admin token in DIR/admin-token (0600), for commands printed with --admin-token-file; its path. */
function writeAdminTokenFile(dir: string, token: string): string {
  const file = join(dir, 'admin-token');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an older file keeps its mode through writeFileSync
  return file;
}

const SAMPLE: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'shop', private: true, type: 'module' }, null, 2) + '\n',
  'src/cart.js': 'export function total(items) {\n  return items.reduce((sum, i) => sum + i.price * i.qty, 0);\n}\n',
  'src/money.js': 'export function format(cents) {\n  return `$${(cents / 100).toFixed(2)}`;\n}\n',
  'test/cart.test.js': "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { total } from '../src/cart.js';\n\n" +
    "test('sums price times quantity', () => {\n  assert.strictEqual(total([{ price: 250, qty: 2 }, { price: 100, qty: 1 }]), 600);\n});\n" +
    "test('an empty cart costs nothing', () => {\n  assert.strictEqual(total([]), 0);\n});\n",
  'test/money.test.js': "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { format } from '../src/money.js';\n\n" +
    "test('formats cents as dollars', () => {\n  assert.strictEqual(format(1999), '$19.99');\n});\n",
};
/** greengate.yml's flags: of the demo repository: the flags file, its token, and new-checkout's guarded rollout on the canary's /metrics. */
export function demoFlags(token: string, canaryPort: number) {
  return { file: 'flags.json', token, rollouts: { 'new-checkout': {
    variant: 'on', steps: [20, 50, 100], hold: 5, minSample: 50, alpha: 0.01, maxIncrease: 1.5,
    source: { scrape: `http://127.0.0.1:${canaryPort}/metrics`, interval: 1 },
    metrics: [{ name: 'checkout errors', kind: 'ratio', errors: 'checkout_requests_total{status="500"}', total: 'checkout_requests_total' }],
  } } };
}

const BUG = { 'src/cart.js': 'export function total(items) {\n  return items.reduce((sum, i) => sum + i.price, 0); // forgot the quantity\n}\n' };

export interface DemoOptions { port: number; dir?: string; pushHistory?: boolean }
export interface Demo {
  server: RunningServer; runners: ChildProcess[]; dir: string; history: Promise<void>;
  /** A shell command that opens shop/main's tree, as printed: this CLI's full path, --server and the admin token file. */
  openTree: string;
  stop(): Promise<void>;
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Demo Developer', GIT_AUTHOR_EMAIL: 'dev@shop.example',
  GIT_COMMITTER_NAME: 'Demo Developer', GIT_COMMITTER_EMAIL: 'dev@shop.example' };

const DEMO_GIT_TIMEOUT_MS = 60_000; // 1 minute: one git command of the demo (a push waits for the gate's hooks)

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: DEMO_GIT_TIMEOUT_MS }).trim();
}

function commit(work: string, files: Record<string, string>, message: string): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(work, path, '..'), { recursive: true });
    writeFileSync(join(work, path), text);
  }
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '-m', message);
  return git(work, 'rev-parse', 'HEAD');
}

/** The push runs hooks that call this very process's server: it must not block the event loop. */
async function push(work: string): Promise<void> {
  await promisify(execFile)('git', ['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], { cwd: work, env: GIT_ENV, timeout: DEMO_GIT_TIMEOUT_MS });
}

async function commitAndPush(work: string, files: Record<string, string>, message: string): Promise<string> {
  const sha = commit(work, files, message);
  await push(work);
  return sha;
}

async function prepare(dir: string): Promise<{ configFile: string; bare: string; work: string; fresh: boolean }> {
  const bare = join(dir, 'git', 'shop.git');
  const work = join(dir, 'work', 'shop');
  const configFile = join(dir, 'greengate.yml');
  const fresh = !existsSync(configFile);
  if (fresh) {
    mkdirSync(bare, { recursive: true });
    git(bare, 'init', '--quiet', '--bare', '--initial-branch=main');
    mkdirSync(join(dir, 'work'), { recursive: true });
    git(join(dir, 'work'), 'clone', '--quiet', bare, work);
    git(work, 'checkout', '--quiet', '-B', 'main');
    const ports = { canary: await freePort(), production: await freePort() };
    writeFileSync(configFile, stringify({
      port: 8010, data: './data', runnerToken: randomBytes(12).toString('hex'), adminToken: randomBytes(12).toString('hex'),
      // One builder in three steps (README "Steps"): check the sources, run the tests sharded over the
      // runners, then package what passed (an artifact on the build page).
      repositories: [{ name: 'shop', path: './git/shop.git', gate: ['main'], autoRevert: true, builders: [{
        name: 'unit', timeout: 120, steps: [
          { name: 'check', run: 'for f in src/*.js; do node --check "$f" || exit 1; done && echo "sources parse"' },
          { name: 'test', tests: 'test/**/*.test.js', junit: 'junit.xml',
            run: 'node --test --test-reporter=spec --test-reporter-destination=stdout ' +
              '--test-reporter="$GREENGATE_NODE_TEST_REPORTER" --test-reporter-destination=junit.xml "$@"' },
          { name: 'package', run: 'tar czf shop.tgz src app && echo "packed shop.tgz"', artifacts: ['shop.tgz'] },
        ],
      }], flags: demoFlags(randomBytes(12).toString('hex'), ports.canary), deploy: demoDeploy(join(dir, 'deployed'), ports, join(dir, 'greengate-url')) }],
    }));
  }
  else addStageSandboxes(configFile, dir);
  return { configFile, bare, work, fresh };
}

/** A demo made before units were sandboxed: its deploy stages get the sandbox their app needs. */
function addStageSandboxes(configFile: string, dir: string): void {
  const doc = parse(readFileSync(configFile, 'utf8'));
  const stages: Record<string, unknown>[] = doc?.repositories?.[0]?.deploy?.main?.stages ?? [];
  if (stages.every((s) => s.sandbox)) return;
  for (const stage of stages) stage.sandbox ??= demoStageSandbox(join(dir, 'deployed'), join(dir, 'greengate-url'));
  writeFileSync(configFile, stringify(doc));
}

/** The next finished build of main (bisect builds are the culprit search's, not pushes). */
async function waitForBuild(server: RunningServer, after: number, timeoutMs = 30_000) {
  return waitFor(() => {
    const b = server.store.builds.list({ kind: 'branch', limit: 1 })[0];
    return b && b.id > after && b.state === 'done' ? b : undefined;
  }, 'the demo build did not finish in time', timeoutMs);
}

async function waitFor<T>(read: () => T | undefined, failure: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = read();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  fail('GG_DEMO_FAILED', failure);
}

/** Waits for the deploy of `sha` to end (deployed, rolled back, failed, superseded). */
function waitForDeploy(server: RunningServer, sha: string, timeoutMs = 180_000) {
  return waitFor(() => server.store.deploys.list(20).find((x) => x.sha === sha && ['deployed', 'rolled_back', 'failed', 'superseded'].includes(x.state)),
    `the demo deploy of ${sha.slice(0, 10)} did not end in time`, timeoutMs);
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const dir = resolve(opts.dir ?? join('.greengate', 'demo'));
  const say = (line: string) => process.stdout.write(line + '\n');
  const { configFile, bare, work, fresh } = await prepare(dir);
  const config = loadConfig(configFile);
  const server = await startServer({ config, port: opts.port, log: createLogger('greengate-demo') });
  const url = server.baseUrl;
  const tokenFile = writeAdminTokenFile(dir, config.adminToken!);
  const openTree = ['node', CLI, 'tree', 'open', '--server', server.url, '--admin-token-file', tokenFile, '--repo', 'shop', '--branch', 'main']
    .map(sh).join(' ');
  writeFileSync(join(dir, 'greengate-url'), server.url); // the deployed apps stop when it stops answering (demoApp.ts)
  const flagsToken = config.repositories[0].flags?.token;
  if (flagsToken) { // the deployed apps read the flags with it (a demo made before flags has none)
    writeFileSync(flagsTokenFile(join(dir, 'greengate-url')), `${flagsToken}\n`, { mode: 0o600 });
    chmodSync(flagsTokenFile(join(dir, 'greengate-url')), 0o600);
  }
  installHooks(bare, { server: server.url, repo: 'shop', gated: config.repositories[0].gate });
  // The token goes in the environment, never on the command line (visible to every local user).
  // GREENGATE_EXIT_WITH_PARENT: a runner stops by itself when this process dies without stopping it.
  const runnerEnv: NodeJS.ProcessEnv = { ...process.env, GREENGATE_RUNNER_TOKEN: config.runnerToken, GREENGATE_EXIT_WITH_PARENT: '1' };
  delete runnerEnv.GREENGATE_ADMIN_TOKEN;
  // The runners share the server's host (and run as its user): its database, greengate.yml (the
  // tokens) and the admin-token file are hidden from their units' sandboxes.
  const runners = [1, 2].map((i) => spawn(process.execPath, [CLI, 'runner', '--server', server.url,
    '--name', `demo-runner-${i}`, '--slots', '2', '--work', join(dir, 'runners', String(i)),
    '--hide', config.data, '--hide', configFile, '--hide', tokenFile],
  { stdio: ['ignore', 'inherit', 'inherit'], env: runnerEnv }));

  let stopped = false;
  let flagStory: Promise<void> = Promise.resolve();
  const history = (async () => {
    if (!fresh) {
      const stages = demoStages((config.repositories[0].deploy?.main?.stages ?? []) as Parameters<typeof demoStages>[0]);
      const hide = [config.data, configFile, tokenFile, join(dir, 'runners')]; // as the runners hide them from units, and the admin token
      for (const app of await restartApps(join(dir, 'deployed'), stages, join(dir, 'greengate-url'), hide)) {
        say(app.state === 'restarted'
          ? `demo: restarted the ${app.stage} app of the last deploy on http://127.0.0.1:${app.port}/ (release ${app.release!.split('/').pop()!.slice(0, 10)})`
          : `demo: the ${app.stage} app is stopped: ${app.why}`);
      }
    }
    if (!fresh || opts.pushHistory === false) return;
    const before = server.store.builds.list({ kind: 'branch', limit: 1 })[0]?.id ?? 0;
    await commitAndPush(work, { ...SAMPLE, ...appFiles(), 'flags.json': JSON.stringify(DEMO_FLAGS, null, 2) + '\n' }, 'Add the shop with its first tests');
    const green = await waitForBuild(server, before);
    say(`demo: first push built ${green.result} (build ${green.id}) — waterfall at ${url}`);
    if (flagsToken) flagStory = tellFlags(server, url, say, () => stopped).catch((err) => { say(`demo: ${(err as Error).message}`); });
    commit(work, { 'README.md': '# shop\n\nA tiny shop.\n' }, 'Say what the shop is');
    commit(work, BUG, 'Drop the quantity from the cart total');
    commit(work, { 'src/money.js': SAMPLE['src/money.js'] + '\nexport const CURRENCY = \'USD\';\n' }, 'Name the currency');
    await push(work);
    const red = await waitForBuild(server, green.id);
    say(`demo: three commits pushed at once built ${red.result} (build ${red.id}): the tree of shop/main closes`);
    const search = await waitFor(() => { const s = server.store.culprits.forBuild(red.id); return s?.state === 'done' ? s : undefined; },
      'the culprit search did not end in time');
    const probes = server.store.culprits.probes(search.id).length;
    const named = search.culpritSha ? server.store.repos.commit(search.repoId, search.culpritSha) : undefined;
    say(`demo: the culprit search built ${probes} bisect builds and named ${search.culpritSha?.slice(0, 10) ?? 'no commit'}` +
      `${named ? ` "${named.subject}"` : ''} (${search.confirmed ? 'confirmed' : 'not confirmed'})`);
    const revert = await waitFor(() => { const r = server.store.culprits.revertOf(search.id); return r && r.state !== 'wanted' ? r : undefined; },
      'the automatic revert did not happen in time');
    if (revert.state !== 'pushed') {
      say(`demo: the automatic revert was refused: ${revert.reason}`);
      return;
    }
    const fixed = await waitForBuild(server, red.id);
    say(`demo: greengate reverted it by itself (${revert.revertSha?.slice(0, 10)}); the revert built ${fixed.result} (build ${fixed.id}): the tree reopens`);
    const good = await waitForDeploy(server, fixed.sha);
    say(`demo: deploy ${good.id} of the green head ${good.state.replace('_', ' ')} (canary, then production) — ${url}/deploys/${good.id}`);
    git(work, 'pull', '--quiet', '--ff-only', 'origin', 'main'); // greengate's revert is on main now
    await commitAndPush(work, { 'app/config.json': appFiles(BAD_ERROR_RATE)['app/config.json'] }, 'Retry failed payments more eagerly');
    const risky = await waitForBuild(server, fixed.id);
    say(`demo: a push that raises the app's error rate from 0.5 % to 5 % built ${risky.result} (build ${risky.id}): its tests cannot see it`);
    const bad = await waitForDeploy(server, risky.sha);
    say(`demo: deploy ${bad.id} ${bad.state.replace('_', ' ')}${bad.reason ? `: ${bad.reason}` : ''} — ${url}/deploys/${bad.id}`);
    if (bad.state !== 'rolled_back') return;
    const reverted = await waitFor(() => { const x = server.store.deploys.get(bad.id); return x && x.revertState !== 'pending' ? x : undefined; },
      'the revert of the rolled back deploy did not happen in time');
    say(reverted.revertState === 'done'
      ? `demo: greengate reverted the deployed commit on main; the tree stays closed until a person opens it:\n  ${openTree}`
      : `demo: the revert of the deployed commit was refused: ${reverted.revertError ?? 'no reason recorded'}`);
  })();

  say(`greengate demo: waterfall at ${url}  (data in ${dir}; Ctrl-C stops)`);
  if (!fresh) {
    const last = server.store.builds.list({ kind: 'branch', limit: 1 })[0];
    say(`  reusing the demo in ${dir}: its greengate.yml (same tokens and ports), the repository shop and its history in ${config.data}` +
      `${last ? ` (newest build ${last.id}, of ${last.sha.slice(0, 10)})` : ''}; nothing new is pushed. Delete ${dir} to start over.`);
  }
  say(`  admin token in ${tokenFile} (0600); both tokens in ${configFile}`);
  say(`  open shop/main's tree when it is closed: ${openTree}`);
  return {
    server, runners, dir, history, openTree,
    async stop() {
      stopped = true;
      await flagStory;
      await Promise.all(runners.map((r) => new Promise<void>((res) => {
        if (r.exitCode !== null) return res();
        r.once('exit', () => res());
        r.kill('SIGTERM');
      })));
      stopApps(join(dir, 'deployed'));
      rmSync(join(dir, 'greengate-url'), { force: true });
      await server.close();
    },
  };
}

const FLAG_STORY_MS = 10 * 60_000; // the ramp and the A/B test are told within 10 minutes, or not at all

/** Tells what the flags did: new-checkout's ramp killed by the immune system, checkout-button's A/B verdict (both read over greengate's HTTP). */
async function tellFlags(server: RunningServer, url: string, say: (line: string) => void, stopped: () => boolean): Promise<void> {
  say(`demo: flags.json is served over OFREP; the deployed app reads it with OpenFeature's SDK. new-checkout ramps 20 → 50 → 100 % ` +
    `while the immune system compares its checkout errors (new ${CHECKOUT_ERROR_RATES.on * 100} %, old ${CHECKOUT_ERROR_RATES.off * 100} %) — ${url}/flags/shop/new-checkout`);
  const poll = async <T>(read: () => Promise<T | undefined>): Promise<T | undefined> => {
    const deadline = Date.now() + FLAG_STORY_MS;
    while (!stopped() && Date.now() < deadline) {
      const v = await read().catch(() => undefined);
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 500));
    }
    return undefined;
  };
  const rollout = poll(async () => {
    const r = await (await fetch(`${server.url}/api/flags/shop/new-checkout/rollout`)).json() as { state: string; percent: number; reason: string | null };
    return r.state === 'killed' || r.state === 'done' ? r : undefined;
  }).then((r) => r && say(r.state === 'killed'
    ? `demo: the immune system killed new-checkout mid-ramp, at ${r.percent} % (${r.reason}); nothing was closed — ${url}/flags/shop/new-checkout`
    : `demo: new-checkout's ramp completed at ${r.percent} % without a kill — ${url}/flags/shop/new-checkout`));
  const verdict = poll(async () => {
    const html = await (await fetch(`${server.url}/flags/shop/checkout-button/experiment`)).text();
    const decision = /<p class="experiment-decision"><strong>([^<]*)<\/strong>/.exec(html)?.[1];
    return decision && !decision.startsWith('No ') ? decision.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : undefined;
  }).then((d) => d && say(`demo: the A/B test of checkout-button: ${d.split(' (rule:')[0]} — ${url}/flags/shop/checkout-button/experiment`));
  await Promise.all([rollout, verdict]);
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const demo = await startDemo(opts);
  installProcessGuard(demo.server.health, demo.server.log);
  demo.history.catch((err) => process.stderr.write(`demo: ${(err as Error).message}\n`));
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stdout.write('demo: stopping runners and server\n');
    demo.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => process.stdout.write('demo: SIGHUP ignored — the demo writes its own configuration; `greengate serve` reloads greengate.yml on SIGHUP\n'));
}
