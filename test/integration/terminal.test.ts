import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { CLI, NODE_FLAGS, Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../helpers.js';

/** Issue 22 item 10: what a person sees in the terminal (a pseudo-terminal through util-linux `script`). */
describe('the terminal (npm start, demo, serve)', function () {
  this.timeout(60_000);

  it('the demo under a terminal prints human log lines, and its printed "open the tree" command opens the tree as written', async () => {
    const home = tempHome('gg-term-');
    const cmd = [process.execPath, ...NODE_FLAGS, CLI, 'start'].join(' ');
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: home.dir, env: { ...process.env, PORT: '0', GREENGATE_LOG_LEVEL: 'info', GREENGATE_LOG_FORMAT: '' },
      stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d).replace(/\r/g, ''); });
    child.stderr.on('data', (d) => { out += d; });
    try {
      const hint = await pollUntil(() => /open shop\/main's tree when it is closed: (.+)\n/.exec(out)?.[1], 'the demo\'s banner', 15_000);
      const url = /waterfall at (http:\S+)/.exec(out)![1];
      await pollUntil(() => /first push built/.test(out), 'the first demo build', 15_000);
      const logLines = out.split('\n').filter((l) => / (INFO|WARN|ERROR) /.test(l));
      expect(logLines.length, out).to.be.above(0);
      expect(logLines[0]).to.match(/^\d\d:\d\d:\d\d INFO  greengate-demo: /);
      expect(out).not.to.contain('{"level":');
      // The token file the command names is the demo's own, 0600.
      const tokenFile = /--admin-token-file (\S+)/.exec(hint)![1];
      expect(statSync(tokenFile).mode & 0o777).to.equal(0o600);
      expect(hint).not.to.match(/--admin-token\s/);
      const adminToken = readFileSync(tokenFile, 'utf8').trim();
      const closed = await fetch(`${url}/api/tree/shop/main`, { method: 'POST', body: JSON.stringify({ state: 'closed', message: 'terminal test' }),
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' } });
      expect(closed.status).to.equal(200);
      // Verbatim, in a shell without the token in the environment.
      const env = { ...process.env };
      delete env.GREENGATE_ADMIN_TOKEN;
      const r = spawnSync('sh', ['-c', hint], { encoding: 'utf8', env, cwd: home.dir });
      expect([r.status, r.stdout, r.stderr]).to.deep.equal([0, 'shop/main: tree open\n', '']);
    } finally {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(-child.pid!, 'SIGINT');
      await exited;
      home.cleanup();
    }
  });

  it('a second start says what it reuses', async () => {
    const home = tempHome('gg-term-');
    const start = async () => {
      const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'start'], {
        cwd: home.dir, env: { ...process.env, PORT: '0', GREENGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
      const run = { child, out: '' };
      child.stdout.on('data', (d) => { run.out += d; });
      child.stderr.on('data', (d) => { run.out += d; });
      return run;
    };
    const stop = async (child: ReturnType<typeof spawn>) => {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGINT');
      await exited;
    };
    try {
      const first = await start();
      try {
        await pollUntil(() => /first push built/.test(first.out), 'the first demo build', 15_000);
        expect(first.out).not.to.contain('reusing');
      } finally { await stop(first.child); }
      const second = await start();
      try {
        const line = await pollUntil(() => /reusing the demo in .*\n/.exec(second.out)?.[0], 'the second start\'s banner', 15_000);
        expect(line).to.match(/its greengate\.yml \(same tokens and ports\), the repository shop and its history in \S+ \(newest build \d+, of [0-9a-f]{10}\); nothing new is pushed\. Delete \S+ to start over\./);
      } finally { await stop(second.child); }
    } finally {
      home.cleanup();
    }
  });

  it('serve with its log piped writes JSON lines; GREENGATE_LOG_FORMAT=human asks for human ones', async () => {
    const home = tempHome('gg-term-');
    const repo = new Repo(home.dir);
    const configFile = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    const server = new ServerProcess(configFile);
    try {
      server.env = { GREENGATE_LOG_LEVEL: 'info' };
      await server.start();
      await pollUntil(() => server.output.includes('"msg":"greengate serving"'), 'the JSON start-up line');
      expect(server.output.split('\n').filter((l) => l.startsWith('{')).every((l) => JSON.parse(l).level >= 30)).to.equal(true);
      await server.kill();
      server.env = { GREENGATE_LOG_LEVEL: 'info', GREENGATE_LOG_FORMAT: 'human' };
      await server.start();
      await pollUntil(() => / INFO  greengate: greengate serving {2}url=http/.test(server.output), 'the human start-up line');
      expect(server.output).not.to.contain('{"level":');
      await server.kill();
      const bad = spawnSync(process.execPath, [...NODE_FLAGS, CLI, 'serve', '--config', configFile, '--port', '0'],
        { encoding: 'utf8', env: { ...process.env, GREENGATE_LOG_FORMAT: 'pretty' }, timeout: 20_000 });
      expect(bad.status).to.equal(2);
      expect(bad.stderr).to.contain('GREENGATE_LOG_FORMAT is "json" or "human"');
    } finally {
      await server.kill();
      home.cleanup();
    }
  });
});
