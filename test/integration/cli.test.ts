import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { CLI, NODE_FLAGS, RUNNER_TOKEN, Repo, ServerProcess, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';

describe('the greengate command', function () {
  this.timeout(60_000);

  it('runs the demo on first start: a green first build within 15 s, then Ctrl-C stops everything', async () => {
    const home = tempHome('gg-demo-');
    const started = Date.now();
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'start'], {
      cwd: home.dir, env: { ...process.env, PORT: '0', GREENGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    try {
      const m = await pollUntil(() => /first push built (\w+) \(build \d+\) — waterfall at (http:\S+)/.exec(out), 'the first demo build', 15_000);
      expect(m[1]).to.equal('passed');
      expect(Date.now() - started).to.be.below(15_000);
      // No token on any runner's command line (ps and /proc/PID/cmdline are readable by every local user).
      const runnerToken = /runnerToken: (\S+)/.exec(readFileSync(join(home.dir, '.greengate', 'demo', 'greengate.yml'), 'utf8'))![1];
      const demoRunners = processesMentioning(join(home.dir, '.greengate', 'demo', 'runners'));
      expect(demoRunners).to.have.length(2);
      for (const pid of demoRunners) {
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.to.contain(runnerToken);
      }
      const builds = await (await fetch(`${m[2]}/api/builds`)).json();
      expect(builds.builds[0].result).to.equal('passed');
      await pollUntil(() => /the fix built passed/.test(out), 'the red build and its fix', 30_000);
      const tree = await (await fetch(`${m[2]}/api/tree/shop/main`)).json();
      expect(tree.state).to.equal('open');
      const history = await (await fetch(`${m[2]}/api/tree-history/shop?branch=main`)).json();
      expect(history.events.map((e: any) => e.kind)).to.include.members(['close', 'fix', 'open']);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGINT');
      expect(await exited).to.equal(0);
      expect(out).to.contain('demo: stopping runners and server');
      // the runners were children of the demo: none may be left behind
      expect(processesMentioning(join(home.dir, '.greengate', 'demo', 'runners'))).to.deep.equal([]);
      home.cleanup();
    }
  });

  it('refuses a bad greengate.yml with the key path and the fix, and exits non-zero', () => {
    const home = tempHome();
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, 'runnerToken: abcdefghijk\nrepositories:\n  - name: shop\n    path: /nowhere.git\n    builders:\n      - name: unit\n        run: "true"\n        tiemout: 5\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { encoding: 'utf8' });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('repositories[0].builders[0].tiemout');
    expect(r.stderr).to.contain('did you mean "timeout"');
    home.cleanup();
  });

  it('explains a missing config and bad flags with usage', () => {
    const home = tempHome();
    const r = spawnSync(process.execPath, [CLI, 'serve'], { cwd: home.dir, encoding: 'utf8' });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('no configuration at');
    const bad = spawnSync(process.execPath, [CLI, 'runner', '--server', 'http://127.0.0.1:1', '--token', 'x', '--slots', 'lots'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.contain('--slots must be a whole number');
    home.cleanup();
  });

  it('starts a runner with one slot per CPU by default, and warns when given more slots than CPUs', async () => {
    const home = tempHome();
    const repo = new Repo(home.dir);
    const server = await new ServerProcess(writeConfig(home.dir, [{ name: repo.name, path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
    const cpus = availableParallelism();
    const start = (name: string, ...extra: string[]) => {
      const child = spawn(process.execPath, [CLI, 'runner', '--server', server.url, '--name', name, '--work', join(home.dir, name), ...extra], {
        env: { ...process.env, GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
      const out = { text: '' };
      child.stdout.on('data', (d) => { out.text += d; });
      child.stderr.on('data', (d) => { out.text += d; });
      return { child, out };
    };
    const plain = start('plain');
    const crowded = start('crowded', '--slots', String(cpus + 1));
    try {
      await pollUntil(() => /connected to .* with \d+ slot/.test(plain.out.text) && /connected to .* with \d+ slot/.test(crowded.out.text), 'both runners to connect');
      expect(plain.out.text).to.contain(`with ${cpus} slot(s)`);
      expect(plain.out.text).to.not.contain('only contend');
      expect(crowded.out.text).to.contain(`${cpus + 1} slots on ${cpus} CPUs: more than ${cpus} busy slots only contend`);
      const runners = await server.api<any>('/healthz');
      expect(runners.runners).to.equal(2);
    } finally {
      await Promise.all([stopChild(plain.child), stopChild(crowded.child)]);
      await server.kill();
      home.cleanup();
    }
  });
});

/** Pids of live processes whose command line mentions `text` (read from /proc). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}
