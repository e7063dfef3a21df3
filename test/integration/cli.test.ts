import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import {
  CLI, NODE_FLAGS, ROOT, RUNNER_TOKEN, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';

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
      // The runner processes themselves (a unit's git or shell, working in a runner's folder, mentions it too).
      const demoRunners = processesMentioning(join(home.dir, '.greengate', 'demo', 'runners'), 'runner');
      expect(demoRunners).to.have.length(2);
      for (const pid of demoRunners) {
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.to.contain(runnerToken);
      }
      const builds = await (await fetch(`${m[2]}/api/builds`)).json();
      expect(builds.builds[0].result).to.equal('passed');
      await pollUntil(() => /the revert built passed/.test(out), 'the red build, its culprit and the automatic revert', 45_000);
      expect(out).to.match(/named \w{10} "Drop the quantity from the cart total" \(confirmed\)/);
      const tree = await (await fetch(`${m[2]}/api/tree/shop/main`)).json();
      expect(tree.state).to.equal('open');
      const history = await (await fetch(`${m[2]}/api/tree-history/shop?branch=main`)).json();
      expect(history.events.map((e: any) => e.kind)).to.include.members(['close', 'auto-revert', 'open']);
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

describe('the greengate command line: help, version, suggestions', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, GREENGATE_SERVER: '' } });

  it('gives each command its own --help, naming its own options', () => {
    const helps = new Map<string, string>();
    for (const cmd of [['serve'], ['runner'], ['hook', 'install'], ['tree'], ['backup'], ['demo'], ['start']]) {
      const r = run(...cmd, '--help');
      expect(r.status, cmd.join(' ')).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^usage: greengate ${cmd.join(' ')}\\b`));
      helps.set(cmd.join(' '), r.stdout);
    }
    expect(new Set(helps.values()).size).to.equal(helps.size);
    expect(helps.get('runner')).to.contain('--token-file FILE').and.to.contain('--slots N').and.not.to.contain('--admin-token-file');
    expect(helps.get('tree')).to.contain('--admin-token-file FILE').and.not.to.contain('--slots');
    expect(helps.get('hook install')).to.contain('--skip-server-check');
    expect(run('help', 'runner').stdout).to.equal(helps.get('runner'));
    const global = run('--help');
    expect(global.status).to.equal(0);
    for (const name of helps.keys()) expect(global.stdout).to.contain(`  ${name} `);
  });

  it('prints the package.json version for --version', () => {
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
    const r = run('--version');
    expect(r.status).to.equal(0);
    expect(r.stdout.trim()).to.equal(version);
  });

  it('suggests the command or flag that was meant, with exit code 2', () => {
    const serv = run('serv');
    expect(serv.status).to.equal(2);
    expect(serv.stderr).to.contain('unknown command "serv" — did you mean "serve"?');
    const sever = run('runner', '--sever', 'http://127.0.0.1:1');
    expect(sever.status).to.equal(2);
    expect(sever.stderr).to.contain('unknown option "--sever" — did you mean "--server"?');
    expect(sever.stderr).to.contain('usage: greengate runner --server URL');
    const instal = run('hook', 'instal', '/tmp/x.git');
    expect(instal.status).to.equal(2);
    expect(instal.stderr).to.contain('did you mean "hook install"?');
    const nothingNear = run('frobnicate');
    expect(nothingNear.stderr).to.contain('unknown command "frobnicate"').and.not.to.contain('did you mean');
    // a value that looks like a flag is not taken for a mistyped flag: the error says to write --message=…
    const message = run('tree', 'close', '--server', 'not a url', '--message', '--sever is down');
    expect(message.status).to.equal(2);
    expect(message.stderr).not.to.contain('unknown option');
    expect(message.stderr).to.contain("use '--message=-XYZ'");
  });
});

describe('start-up and hook install checks (real server)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess | undefined;
  afterEach(async () => {
    await server?.kill();
    server = undefined;
    home.cleanup();
  });

  it('stops start-up when a repository path does not exist, naming the key path and the fix', () => {
    home = tempHome();
    const file = writeConfig(home.dir, [{ name: 'shop', path: join(home.dir, 'git', 'missing.git'), builders: [{ name: 'unit', run: 'true' }] }]);
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/greengate\.yml:\d+:\d+: repositories\[0\]\.path: \S+missing\.git does not exist — create the bare repository there/);
    expect(r.stdout).not.to.contain('serving');
  });

  it('hook install refuses a repository the server does not know, and a server it cannot reach, unless told to skip', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    const other = new Repo(home.dir, 'other');
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
    const install = (...args: string[]) => spawnSync(process.execPath, [CLI, 'hook', 'install', ...args], { encoding: 'utf8', timeout: 20_000 });

    const unknown = install(other.bare, '--server', server.url);
    expect(unknown.status).to.equal(1);
    expect(unknown.stderr).to.contain(`the server at ${server.url} has no repository "other" (it has: shop)`);
    expect(existsSync(join(other.bare, 'hooks', 'pre-receive'))).to.equal(false);

    const known = install(shop.bare, '--server', server.url);
    expect(known.status, known.stderr).to.equal(0);
    expect(existsSync(join(shop.bare, 'hooks', 'pre-receive'))).to.equal(true);

    const down = `http://127.0.0.1:${await freePort()}`;
    // A server that is not up yet (scripts install hooks first): refused; --skip-server-check is the explicit way.
    const unreachable = install(other.bare, '--server', down, '--repo', 'shop');
    expect(unreachable.status).to.equal(1);
    expect(unreachable.stderr).to.contain(`cannot reach the greengate server at ${down} (ECONNREFUSED)`);
    expect(existsSync(join(other.bare, 'hooks', 'pre-receive'))).to.equal(false);
    const skipped = install(other.bare, '--server', down, '--skip-server-check');
    expect(skipped.status, skipped.stderr).to.equal(0);
    expect(existsSync(join(other.bare, 'hooks', 'pre-receive'))).to.equal(true);
  });

  it('hook install over installed hooks: a wrong port, a non-greengate server or an unknown repo is refused, config and hooks unchanged', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
    // Asynchronous: the fake server below runs in this process and must answer while the CLI waits.
    const install = (...args: string[]) => new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'hook', 'install', shop.bare, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += d; });
      child.on('close', (status) => resolve({ status, stderr }));
    });
    const first = await install('--server', server.url);
    expect(first.status, first.stderr).to.equal(0);
    const hooksDir = join(shop.bare, 'hooks');
    const snapshot = () => JSON.stringify({ config: readFileSync(join(shop.bare, 'config'), 'utf8'),
      hooks: readdirSync(hooksDir).sort().map((f) => [f, readFileSync(join(hooksDir, f), 'utf8')]) });
    const before = snapshot();
    expect(before).to.contain(`server = ${server.url}`);

    // The other end faked: an HTTP server that is not greengate (a web page where the API would be).
    const web = createHttpServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html>hello</html>'); });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    try {
      const wrongPort = `http://127.0.0.1:${await freePort()}`;
      const notGreengate = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
      const refused = [
        { args: ['--server', wrongPort], says: `cannot reach the greengate server at ${wrongPort} (ECONNREFUSED)` },
        { args: ['--server', notGreengate], says: `GET ${notGreengate}/api/repos answered HTTP 200 without a repository list: is ${notGreengate} a greengate server?` },
        { args: ['--server', server.url, '--repo', 'nosuch'], says: `the server at ${server.url} has no repository "nosuch" (it has: shop)` },
      ];
      for (const { args, says } of refused) {
        const r = await install(...args);
        expect(r.status, args.join(' ')).to.equal(1);
        expect(r.stderr).to.contain(says);
        expect(r.stderr).to.contain('nothing installed');
        expect(snapshot(), `after ${args.join(' ')}`).to.equal(before);
      }
      const noScheme = await install('--server', 'localhost:8010');
      expect(noScheme.status).to.equal(1);
      expect(noScheme.stderr).to.contain('--server "localhost:8010" must start with http:// or https://');
      expect(snapshot()).to.equal(before);
      const skipped = await install('--server', wrongPort, '--skip-server-check', '--gated', 'main');
      expect(skipped.status, skipped.stderr).to.equal(0);
      expect(readFileSync(join(shop.bare, 'config'), 'utf8')).to.contain(`server = ${wrongPort}`);
    } finally {
      await new Promise<void>((r) => web.close(() => r()));
    }
  });

  it('serve --host 127.0.0.1 listens there only; a 0644 greengate.yml with inline tokens gets one warning naming the file and the fix', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    const file = writeConfig(home.dir, [{ name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    chmodSync(file, 0o644);
    server = new ServerProcess(file);
    server.args = ['--host', '127.0.0.1'];
    await server.start();
    const port = Number(new URL(server.url).port);
    expect(listeningAddresses(port)).to.deep.equal(['127.0.0.1']);
    expect((await server.api('/healthz')).ok).to.equal(true);
    const warnings = server.output.split('\n').filter((l) => l.includes('written out and other users can read it'));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.contain(`${file} holds runnerToken, adminToken written out`).and.contain('(mode 0644)')
      .and.contain(`chmod 600 ${file}`).and.not.contain(RUNNER_TOKEN);
  });

  it('host: in greengate.yml is where it listens (no warning for a 0600 file); an invalid host: is a config error with the key path', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    const repos = [{ name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'true' }] }];
    const file = writeConfig(home.dir, repos, { host: '127.0.0.1' });
    chmodSync(file, 0o600);
    server = await new ServerProcess(file).start();
    expect(listeningAddresses(Number(new URL(server.url).port))).to.deep.equal(['127.0.0.1']);
    expect(server.output).not.to.contain('other users can read it');
    await server.kill();
    server = undefined;

    writeConfig(home.dir, repos, { host: 'not a host!' });
    const bad = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/greengate\.yml:\d+:\d+: host: must be an IP address or a host name to listen on/);
    const badFlag = spawnSync(process.execPath, [CLI, 'serve', '--config', file, '--host', '300.1.1.1:80'], { encoding: 'utf8', timeout: 20_000 });
    expect(badFlag.status).to.equal(2);
    expect(badFlag.stderr).to.contain('--host "300.1.1.1:80" must be an IP address or a host name');
  });

  it('a runner that cannot reach its server says so once (URL and error), keeps retrying, and connects when the server comes', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const port = await freePort();
    const runner = startRunner(`http://127.0.0.1:${port}`, 'early', home.dir);
    try {
      await pollUntil(() => /cannot reach the server at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/.test(runner.output), 'the first failure to be reported');
      // The port answers TCP and hangs up (the other end faked): count the runner's attempts, still one line.
      let attempts = 0;
      const hangUp = createServer((socket) => { attempts++; socket.destroy(); });
      await new Promise<void>((r) => hangUp.listen(port, '127.0.0.1', () => r()));
      await pollUntil(() => attempts >= 3, 'three more attempts', 30_000);
      await new Promise<void>((r) => hangUp.close(() => r()));
      expect(runner.output.match(/cannot reach/g)).to.have.length(1);
      server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]), port).start();
      await pollUntil(async () => (await server!.api('/healthz')).runners === 1, 'the runner to connect', 20_000);
      await pollUntil(() => /reached http:\/\/127\.0\.0\.1:\d+ again after \d+ s \((\d+) attempt\(s\)\)/.test(runner.output), 'the runner to say it is through');
      expect(Number(/again after \d+ s \((\d+) attempt/.exec(runner.output)![1])).to.be.at.least(4);
    } finally {
      await stopChild(runner);
    }
  });
});

/** The local addresses of the listening TCP sockets on `port` (Linux /proc/net/tcp and tcp6). */
function listeningAddresses(port: number): string[] {
  const addresses: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local) continue; // 0A: LISTEN
      const [hex, portHex] = local.split(':');
      if (parseInt(portHex, 16) !== port) continue;
      addresses.push(hex.length === 8 ? (hex.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)).join('.') : `[${hex}]`);
    }
  }
  return addresses;
}

/** A port nothing listens on (taken from the OS, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Pids of live processes whose command line mentions `text` (read from /proc). */
/** The processes whose command line mentions `text` (and, when given, has `arg` as one of its arguments). */
/**
 * The processes whose command line mentions `text` (and has the argument `arg`). A child caught
 * between fork and exec still shows its parent's command line: it is left out when its parent is
 * one of them (a runner starting git or bwrap is not a third runner).
 */
function processesMentioning(text: string, arg?: string): number[] {
  const found = new Map<number, number>(); // pid → parent pid
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(text) || (arg !== undefined && !cmdline.split('\0').includes(arg))) continue;
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      found.set(Number(entry), ppid);
    } catch {
      // the process ended meanwhile
    }
  }
  return [...found].filter(([, ppid]) => !found.has(ppid)).map(([pid]) => pid);
}
