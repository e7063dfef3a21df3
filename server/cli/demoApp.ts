/**
 * The demo's deployed web app: a small Node HTTP server with prom-client (its /metrics: requests
 * by status and a latency histogram) and its own users (about 100 requests a second to itself),
 * in the demo repository under app/, with deploy/ scripts. `greengate demo` deploys it in two
 * stages (canary, production), each a process on its own port, and watches each stage's /metrics
 * by scraping: the demo's last push raises the app's error rate from 0.5 % to 5 %, which the
 * immune system catches and rolls back.
 *
 * Feature flags (issue 25 item 8): the app reads the demo repository's flags (flags.json, served by
 * greengate) through the stock OpenFeature SDK (@openfeature/server-sdk) with its OFREP provider, with
 * the flags token in the demo's flags-token file (beside greengate-url). About 10 times a second a
 * random user checks out: `new-checkout` (ramped by a guarded rollout that scrapes this /metrics)
 * picks the checkout, whose new variant fails 10 % of the time against 1 % for the old one
 * (checkout_requests_total{flag, variant, status}); `checkout-button` (an A/B test, blue against
 * green) picks the button, and a purchase (green converts better) is posted to greengate's
 * POST /ofrep/v1/events as a conversion, in batches each second. Without the token file (a demo made
 * before flags) the app serves its users without checkouts.
 *
 * Processes: the deploy scripts start the app detached (setsid, pid in DEPLOYED/<stage>/pid) so
 * that it outlives the deploy step (its stages' `sandbox: { keepProcesses: true, writable: [DEPLOYED] }`); `stopApps` ends them when the demo stops, and an app also
 * exits by itself when greengate stops answering (it asks /healthz every 2 s at the URL in the
 * demo's greengate-url file), so nothing is left behind when the demo is killed outright.
 * A second start restarts them (`restartApps`): each stage with an installed release
 * (DEPLOYED/<stage>/current; a rollback with no earlier release removes it) is started again by
 * the deploy's own restart script, on the stage's port, in a bubblewrap sandbox like its stage's
 * (keepProcesses; writable only DEPLOYED; the demo's database, greengate.yml, admin token and
 * runners hidden); without bwrap it runs as the runner would (unsandboxed), and as root it is
 * not started. A stage whose app does not answer is reported as stopped.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { createServer } from 'node:net';

export const GOOD_ERROR_RATE = 0.005;
export const BAD_ERROR_RATE = 0.05;
/** The checkout's failure rate per variant of new-checkout: the new one is worse. */
export const CHECKOUT_ERROR_RATES = { off: 0.01, on: 0.1 };
/** The share of users who buy after a checkout, per variant of checkout-button. */
export const BUY_RATES = { blue: 0.1, green: 0.2 };

/** The demo repository's flags (flagd's schema): new-checkout is ramped by greengate.yml's rollout; checkout-button is split 50/50. */
export const DEMO_FLAGS = {
  $schema: 'https://flagd.dev/schema/v0/flags.json',
  flags: {
    'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
    'checkout-button': { state: 'ENABLED', variants: { blue: 'blue', green: 'green' }, defaultVariant: 'blue',
      targeting: { fractional: [['green', 50], ['blue', 50]] } },
  },
};

const SERVER_JS = `// The shop's web app: answers its users, counts requests by status, and exposes /metrics.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import client from 'prom-client';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const [port, urlFile] = [Number(process.argv[2]), process.argv[3]];
const { errorRate } = JSON.parse(readFileSync(new URL('./config.json', import.meta.url), 'utf8'));
const registry = new client.Registry();
const requests = new client.Counter({ name: 'http_requests_total', help: 'requests by status', labelNames: ['status'], registers: [registry] });
const latency = new client.Histogram({ name: 'http_request_duration_seconds', help: 'request latency',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers: [registry] });

// Scrapes of /metrics answered whole, not counting deploy/restart.sh's readiness probes (x-demo-probe):
// restart.sh waits for greengate's first one (GET /scraped) so the stage's watch has a scrape of this
// process from before its window starts.
let scraped = 0;
http.createServer(async (req, res) => {
  if (req.url === '/metrics') {
    if (!req.headers['x-demo-probe']) res.once('finish', () => { scraped++; });
    res.setHeader('content-type', registry.contentType);
    return res.end(await registry.metrics());
  }
  if (req.url === '/scraped') {
    res.statusCode = scraped > 0 ? 200 : 503;
    return res.end(\`\${scraped}\\n\`);
  }
  const end = latency.startTimer();
  const failed = Math.random() < errorRate;
  res.statusCode = failed ? 500 : 200;
  res.end(failed ? 'something broke\\n' : 'ok\\n');
  requests.inc({ status: String(res.statusCode) });
  end();
}).listen(port, '127.0.0.1');

// Checkouts, behind feature flags read through OpenFeature's OFREP provider from greengate.
const CHECKOUT_ERROR_RATES = ${JSON.stringify(CHECKOUT_ERROR_RATES)};
const BUY_RATES = ${JSON.stringify(BUY_RATES)};
const checkouts = new client.Counter({ name: 'checkout_requests_total', help: 'checkouts by flag variant and status',
  labelNames: ['flag', 'variant', 'status'], registers: [registry] });
for (const variant of ['on', 'off']) for (const status of ['200', '500']) checkouts.inc({ flag: 'new-checkout', variant, status }, 0);
let flags; // the OpenFeature client; null: no flags token (a demo made before flags)
let purchases = [];
async function flagsClient() {
  if (flags !== undefined) return flags;
  try {
    const token = readFileSync(join(dirname(urlFile), 'flags-token'), 'utf8').trim();
    await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: readFileSync(urlFile, 'utf8').trim(), headers: [['Authorization', \`Bearer \${token}\`]] }));
    flags = OpenFeature.getClient('shop');
  } catch { flags = null; }
  return flags;
}
async function checkout() {
  const c = await flagsClient();
  if (!c) return;
  const context = { targetingKey: \`user-\${Math.floor(Math.random() * 1_000_000)}\` };
  const flow = await c.getBooleanDetails('new-checkout', false, context);
  const variant = flow.variant ?? (flow.value ? 'on' : 'off');
  const failed = Math.random() < CHECKOUT_ERROR_RATES[flow.value ? 'on' : 'off'];
  checkouts.inc({ flag: 'new-checkout', variant, status: failed ? '500' : '200' });
  const button = await c.getStringDetails('checkout-button', 'blue', context);
  if (!failed && button.variant && Math.random() < (BUY_RATES[button.value] ?? 0)) {
    purchases.push({ flag: 'checkout-button', variant: button.variant, targetingKey: context.targetingKey, kind: 'conversion', metric: 'purchase' });
  }
}
setInterval(() => { checkout().catch(() => {}); }, 100);
setInterval(() => {
  if (!purchases.length || !flags) return;
  const events = purchases.splice(0, 1000);
  const token = readFileSync(join(dirname(urlFile), 'flags-token'), 'utf8').trim();
  fetch(\`\${readFileSync(urlFile, 'utf8').trim()}/ofrep/v1/events\`, { method: 'POST', body: JSON.stringify({ events }),
    headers: { authorization: \`Bearer \${token}\`, 'content-type': 'application/json' } }).then((r) => r.arrayBuffer(), () => {});
}, 1000);

// Its users: about 100 requests a second.
setInterval(() => {
  for (let i = 0; i < 10; i++) http.get(\`http://127.0.0.1:\${port}/cart\`, (r) => r.resume()).on('error', () => {});
}, 100);

// Gone with greengate: exit when its /healthz (URL in urlFile) has not answered three times in a row.
let misses = 0;
setInterval(() => {
  let url = '';
  try { url = readFileSync(urlFile, 'utf8').trim(); } catch { /* the demo stopped */ }
  fetch(\`\${url}/healthz\`, { signal: AbortSignal.timeout(1500) })
    .then(() => { misses = 0; }, () => { if (++misses >= 3) process.exit(0); });
}, 2000);
`;

const DEPLOY_SH = `#!/bin/sh
# deploy/deploy.sh STAGE DIR PORT MODULES GREENGATE: install this commit's app/ as DIR/STAGE's
# current release and restart it; the release it replaces is kept for rollback.sh.
set -eu
stage=$1 dir=$2/$1 port=$3 modules=$4 greengate=$5
release="$dir/releases/$GREENGATE_COMMIT"
mkdir -p "$dir/releases"
rm -rf "$release" && mkdir -p "$release" && cp -R app/. "$release/" && ln -sfn "$modules" "$release/node_modules"
if [ -f "$dir/current" ]; then cp "$dir/current" "$dir/previous"; fi
echo "$release" > "$dir/current"
sh deploy/restart.sh "$dir" "$port" "$greengate"
echo "deployed $GREENGATE_COMMIT to $stage at http://127.0.0.1:$port/"
`;

const ROLLBACK_SH = `#!/bin/sh
# deploy/rollback.sh STAGE DIR PORT GREENGATE: back to the release before the current one.
set -eu
stage=$1 dir=$2/$1 port=$3 greengate=$4
if [ ! -f "$dir/previous" ]; then echo "no earlier release of $stage: stopping it"; rm -f "$dir/current"; [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null; exit 0; fi
mv "$dir/previous" "$dir/current"
sh deploy/restart.sh "$dir" "$port" "$greengate"
echo "rolled $stage back to $(basename "$(cat "$dir/current")")"
`;

const RESTART_SH = `#!/bin/sh
# deploy/restart.sh DIR PORT GREENGATE: stop the running app, start the current release, wait for it.
set -eu
dir=$1 port=$2 greengate=$3
if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; fi
i=0; while curl -sf -o /dev/null -H 'x-demo-probe: 1' "http://127.0.0.1:$port/metrics" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
setsid node "$(cat "$dir/current")/server.js" "$port" "$greengate" >"$dir/app.log" 2>&1 </dev/null &
echo $! > "$dir/pid"
i=0; until curl -sf -o /dev/null -H 'x-demo-probe: 1' "http://127.0.0.1:$port/metrics"; do
  i=$((i+1)); if [ $i -gt 100 ]; then echo "the app did not answer on port $port"; cat "$dir/app.log"; exit 1; fi; sleep 0.1
done
# The stage's watch starts when this script ends. greengate counts a new process's counters from 0
# when nothing answered before (immune/watch.ts); one scrape of it taken before the watch starts
# gives the first slice a real starting sample all the same: wait for it, 10 s at most.
i=0; until curl -sf -o /dev/null "http://127.0.0.1:$port/scraped" || [ $i -ge 100 ]; do i=$((i+1)); sleep 0.1; done
`;

/** The app's files in the demo repository. */
export function appFiles(errorRate = GOOD_ERROR_RATE): Record<string, string> {
  return {
    'app/server.js': SERVER_JS, 'app/config.json': JSON.stringify({ errorRate }, null, 2) + '\n',
    'deploy/deploy.sh': DEPLOY_SH, 'deploy/rollback.sh': ROLLBACK_SH, 'deploy/restart.sh': RESTART_SH,
  };
}

/** A free TCP port on loopback now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The node_modules folder holding prom-client (greengate's own dependency), for the app's releases. */
export function modulesDir(): string {
  return dirname(dirname(createRequire(import.meta.url).resolve('prom-client/package.json')));
}

/**
 * A demo stage's sandbox: the app outlives the step (setsid), writes its releases and log under
 * `deployed`, and reads prom-client and the server's URL (wherever the demo lives: a hidden home or /tmp).
 */
export function demoStageSandbox(deployed: string, greengate: string) {
  return { keepProcesses: true, writable: [deployed], readOnly: [modulesDir(), greengate, flagsTokenFile(greengate)] };
}

/** The file holding the demo's flags token, beside `greengate` (the file holding the server's URL). */
export function flagsTokenFile(greengate: string): string {
  return join(dirname(greengate), 'flags-token');
}

/** greengate.yml's deploy: of the demo repository's main branch. */
export function demoDeploy(deployed: string, ports: { canary: number; production: number }, greengate: string) {
  // greengate: the file holding the server's URL (written once it listens)
  const stage = (name: 'canary' | 'production', seconds: number) => ({
    name,
    run: `sh deploy/deploy.sh ${name} '${deployed}' ${ports[name]} '${modulesDir()}' '${greengate}'`,
    rollback: `sh deploy/rollback.sh ${name} '${deployed}' ${ports[name]} '${greengate}'`,
    timeout: 60,
    sandbox: demoStageSandbox(deployed, greengate),
    watch: {
      seconds, baselineSeconds: seconds, alpha: 0.01, maxIncrease: 1.5,
      source: { scrape: `http://127.0.0.1:${ports[name]}/metrics`, interval: 1 },
      metrics: [{ name: 'errors', kind: 'ratio', errors: 'http_requests_total{status="500"}', total: 'http_requests_total' }],
    },
  });
  return { main: { stages: [stage('canary', 15), stage('production', 10)] } };
}

/** Ends the deployed apps' processes (their pid files under `deployed`). */
export function stopApps(deployed: string): void {
  if (!existsSync(deployed)) return;
  for (const stage of readdirSync(deployed)) {
    const pidFile = join(deployed, stage, 'pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try { if (pid > 1) process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
  }
}

const RESTART_TIMEOUT_MS = 30_000; // restart.sh waits at most 10 s for the old app to go and 10 s for the new one to answer

/** What a second start did for one stage's app: `restarted` (it answers on its port) or `stopped` (with why). */
export interface AppRestart { stage: string; port: number; state: 'restarted' | 'stopped'; release: string | null; why?: string }

/**
 * Starts again the apps the previous run left installed: per stage (name and port), when
 * DEPLOYED/<stage>/current names a release, the deploy's restart script runs it (setsid, pid file,
 * waits until it answers). `greengate` is the file holding the server's URL, as the deploy gave it.
 */
export async function restartApps(deployed: string, stages: readonly { name: string; port: number }[], greengate: string,
  hide: readonly string[]): Promise<AppRestart[]> {
  const done: AppRestart[] = [];
  for (const { name, port } of stages) {
    const dir = join(deployed, name);
    const currentFile = join(dir, 'current');
    const release = existsSync(currentFile) ? readFileSync(currentFile, 'utf8').trim() : '';
    if (!release) { done.push({ stage: name, port, state: 'stopped', release: null, why: 'no release is installed' }); continue; }
    if (!existsSync(join(release, 'server.js'))) {
      done.push({ stage: name, port, state: 'stopped', release, why: `its release ${release} is gone` });
      continue;
    }
    const argv = sandboxed(['sh', '-c', RESTART_SH, 'restart.sh', dir, String(port), greengate], deployed, greengate, hide);
    if (!argv) {
      done.push({ stage: name, port, state: 'stopped', release, why: 'bwrap is not on PATH and the demo runs as root: its apps are not started unsandboxed' });
      continue;
    }
    try {
      await promisify(execFile)(argv[0], argv.slice(1), { timeout: RESTART_TIMEOUT_MS });
      done.push({ stage: name, port, state: 'restarted', release });
    } catch (err) {
      const e = err as { stdout?: string; message: string };
      done.push({ stage: name, port, state: 'stopped', release, why: (e.stdout?.trim() || e.message).split('\n')[0] });
    }
  }
  return done;
}

/**
 * `argv` in a bubblewrap sandbox as the stage's (demoStageSandbox: its processes outlive it, only
 * `deployed` writable), with `hide` hidden; `argv` itself without bwrap (as a runner in `auto`
 * mode), null as root without bwrap (a runner refuses that too).
 */
function sandboxed(argv: string[], deployed: string, greengate: string, hide: readonly string[]): string[] | null {
  const bwrap = (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'bwrap')).find((f) => isAbsolute(f) && existsSync(f));
  if (!bwrap) return process.getuid?.() === 0 ? null : argv;
  const args = [bwrap, '--unshare-user', '--unshare-ipc', '--unshare-uts', '--uid', '1000', '--gid', '1000', '--cap-drop', 'ALL',
    '--new-session', '--ro-bind', '/', '/', '--dev', '/dev', '--tmpfs', '/tmp'];
  const home = process.env.HOME;
  if (home && isAbsolute(home) && home !== '/') args.push('--tmpfs', home, '--ro-bind', dirname(process.execPath), dirname(process.execPath));
  for (const path of hide) {
    if (!existsSync(path)) continue;
    args.push(...(statSync(path).isDirectory() ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path]));
  }
  args.push('--bind', deployed, deployed, '--ro-bind', modulesDir(), modulesDir(), '--ro-bind', greengate, greengate,
    ...(existsSync(flagsTokenFile(greengate)) ? ['--ro-bind', flagsTokenFile(greengate), flagsTokenFile(greengate)] : []), '--chdir', deployed, '--', ...argv);
  return args;
}

/** The demo's stages and their ports, from its greengate.yml's deploy (the port each stage's /metrics is scraped on). */
export function demoStages(stages: readonly { name: string; watch?: { source?: { scrape?: string } } }[]): { name: string; port: number }[] {
  return stages.flatMap((s) => {
    const scrape = s.watch?.source && 'scrape' in s.watch.source ? s.watch.source.scrape : undefined;
    const port = scrape ? Number(new URL(scrape).port) : 0;
    return port > 0 ? [{ name: s.name, port }] : [];
  });
}
