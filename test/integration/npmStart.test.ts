import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, pollUntil, tempHome } from '../helpers.js';

/**
 * `npm start` under a supervisor: a signal goes to the npm process alone (not its process group),
 * and nothing may be left behind. The checkout is a temporary folder with the package.json and the
 * built dist/, so npm runs the real start script there.
 */
describe('npm start under a supervisor (a signal to the npm process alone)', function () {
  this.timeout(120_000);
  const home = tempHome('gg-npmstart-');
  before(() => {
    copyFileSync(join(ROOT, 'package.json'), join(home.dir, 'package.json'));
    symlinkSync(join(ROOT, 'dist'), join(home.dir, 'dist'));
  });
  after(() => home.cleanup());

  function npmStart(): ChildProcess & { out: string } {
    const child = spawn('npm', ['start', '--silent'], {
      cwd: home.dir, env: { ...process.env, PORT: '0', GREENGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
    }) as ChildProcess & { out: string };
    child.out = '';
    child.stdout!.on('data', (d) => { child.out += d; });
    child.stderr!.on('data', (d) => { child.out += d; });
    return child;
  }

  /** The demo's deployed canary app (its first stage) answers on its port (from the demo's greengate.yml). */
  async function canaryAnswers(): Promise<boolean> {
    const config = parse(readFileSync(join(home.dir, '.greengate', 'demo', 'greengate.yml'), 'utf8'));
    const stage = config.repositories[0].deploy.main.stages.find((x: any) => x.name === 'canary');
    return fetch(stage.watch.source.scrape, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
  }

  async function runUntilSignalled(signal: NodeJS.Signals, ready: RegExp, check: (out: () => string) => Promise<void> = async () => {}): Promise<void> {
    const npm = npmStart();
    const exited = new Promise<void>((r) => npm.once('exit', () => r()));
    try {
      await pollUntil(() => ready.test(npm.out) || (npm.exitCode !== null && Promise.reject(new Error(npm.out))), 'the demo to be up', 60_000);
      await pollUntil(() => (npm.out.match(/connected to http/g) ?? []).length >= 2, 'both demo runners to connect');
      const port = Number(/waterfall at http:\/\/localhost:(\d+)/.exec(npm.out)![1]);
      await check(() => npm.out);
      const ours = processesOf(home.dir);
      expect(ours.length, 'the server and two runners').to.be.at.least(3);
      npm.kill(signal); // the npm process only, as a supervisor or `kill PID` does
      await pollUntil(() => processesOf(home.dir).length === 0, `every process of the demo to end after ${signal} to npm`, 20_000)
        .catch((err) => { throw new Error(`${err.message}; left: ${listProcesses(processesOf(home.dir))}\n${npm.out}`); });
      expect(await portIsFree(port), `port ${port} is free`).to.equal(true);
      await pollUntil(() => npm.exitCode !== null || npm.signalCode !== null, 'npm to exit', 10_000);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      await exited;
      for (const pid of processesOf(home.dir)) process.kill(pid, 'SIGKILL');
    }
  }

  it('SIGTERM to npm stops the server, both runners and the deployed apps, and frees the port', async () => {
    // the fresh demo's whole history first, and its first green head deployed to the canary
    await runUntilSignalled('SIGTERM', /the tree reopens|automatic revert was refused/, async () => {
      await pollUntil(() => canaryAnswers(), 'the deployed canary app to answer', 60_000, 500);
    });
    expect(await canaryAnswers(), 'the app stopped with the demo').to.equal(false);
  });

  it('a second start restarts the app it shows as deployed; SIGINT to npm alone stops them too', async () => {
    await runUntilSignalled('SIGINT', /waterfall at http/, async (out) => { // a second run reuses the demo: no history
      await pollUntil(() => /demo: (restarted the canary app|the canary app is stopped)/.exec(out()), 'the demo to restart its apps', 40_000);
      expect(out()).to.match(/demo: restarted the canary app of the last deploy on http:\/\/127\.0\.0\.1:\d+\//);
      expect(await canaryAnswers(), 'the canary app answers again').to.equal(true);
    });
  });

  it('SIGKILL to npm: the start process notices its parent is gone and takes the runners down', async () => {
    await runUntilSignalled('SIGKILL', /waterfall at http/);
  });
});

/** Live processes started in `dir` or naming it on their command line (read from /proc). */
function processesOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (/^Z/.test(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1] ?? '')) continue; // a zombie holds nothing
      if (cmdline.includes(dir) || readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
    } catch {
      // ended meanwhile, or not ours to read
    }
  }
  return pids;
}

function listProcesses(pids: number[]): string {
  return pids.map((p) => { try { return `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return String(p); } }).join('; ');
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}
