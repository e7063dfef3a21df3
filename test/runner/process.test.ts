import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KILL_GRACE_MS, RunningCommand, type RunOptions } from '../../runner/process.js';
import { pollUntil, tempHome } from '../helpers.js';

// Real `sh` processes in a temporary directory; nothing of the runner is faked.

describe('runner/process: a builder command in its own process group', function () {
  this.timeout(KILL_GRACE_MS + 10_000);
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-process-'); });
  afterEach(() => home.cleanup());

  function run(command: string, opts: Partial<RunOptions> = {}): { cmd: RunningCommand; output: () => string } {
    let out = '';
    const cmd = new RunningCommand({ command, args: [], cwd: home.dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutSeconds: 60,
      onOutput: (stream, data) => { out += stream === 'err' ? `[err]${data}` : String(data); }, ...opts });
    return { cmd, output: () => out };
  }

  /** Whether a process still runs (a zombie waiting for init to reap it has ended). */
  function alive(pid: number): boolean {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  }

  it('hands the files to the command as "$@", never through the shell\'s parsing', async () => {
    const files = ['a b.test.js', '$(touch pwned)', '`touch pwned2`; echo x', "it's.js"];
    const { cmd, output } = run('printf "<%s>\\n" "$@"', { args: files });
    const outcome = await cmd.done;
    expect(outcome).to.include({ exitCode: 0, signal: null, timedOut: false, cancelled: false });
    expect(output()).to.equal(files.map((f) => `<${f}>\n`).join(''));
    expect(existsSync(join(home.dir, 'pwned')) || existsSync(join(home.dir, 'pwned2'))).to.equal(false);
  });

  it('gives the command exactly the environment it is handed, none of the runner\'s own', async () => {
    process.env.GG_PROCESS_TEST_SECRET = 'runner-only-value';
    try {
      const { cmd, output } = run('env', { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ONLY_THIS: 'yes' } });
      await cmd.done;
      expect(output()).to.contain('ONLY_THIS=yes');
      expect(output()).not.to.contain('runner-only-value');
      expect(output()).not.to.match(/^GREENGATE_RUNNER_TOKEN=/m);
    } finally {
      delete process.env.GG_PROCESS_TEST_SECRET;
    }
  });

  it('reports a failing command as data: its exit code, or the signal that ended it, and both streams', async () => {
    const failed = run('echo out; echo oops >&2; exit 3');
    expect(await failed.cmd.done).to.include({ exitCode: 3, signal: null, timedOut: false, cancelled: false });
    expect(failed.output()).to.contain('out\n').and.contain('[err]oops\n');
    const killed = run('kill -TERM $$');
    expect(await killed.cmd.done).to.include({ exitCode: null, signal: 'SIGTERM' });
  });

  it('cancel ends the whole group, a background child too', async () => {
    const pidFile = join(home.dir, 'child.pid');
    const { cmd } = run(`sleep 60 & echo $! > '${pidFile}'; wait`);
    const child = await pollUntil(() => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || null : null), 'the background child to start');
    expect(alive(child)).to.equal(true);
    cmd.cancel();
    const outcome = await cmd.done;
    expect(outcome).to.include({ cancelled: true, timedOut: false, signal: 'SIGTERM' });
    await pollUntil(() => !alive(child), 'the background child to end', 5000);
  });

  it('stops a command that prints nothing for timeoutSeconds, and marks it timed out', async () => {
    const { cmd, output } = run('echo started; sleep 60', { timeoutSeconds: 1 });
    const outcome = await cmd.done;
    expect(outcome).to.include({ timedOut: true, cancelled: false, signal: 'SIGTERM' });
    expect(outcome.durationMs).to.be.at.least(1000);
    expect(output()).to.equal('started\n');
  });

  it('sends SIGKILL KILL_GRACE_MS after a SIGTERM the command ignores', async () => {
    const ready = join(home.dir, 'ready');
    const { cmd } = run(`trap '' TERM; touch '${ready}'; while :; do sleep 0.1; done`);
    await pollUntil(() => existsSync(ready), 'the trap to be set');
    const started = Date.now();
    cmd.cancel();
    const outcome = await cmd.done;
    expect(outcome).to.include({ cancelled: true, signal: 'SIGKILL' });
    expect(Date.now() - started).to.be.at.least(KILL_GRACE_MS - 50);
  });

  it('spawns the argv `wrap` makes of `sh -c <command> sh <files…>` (the sandbox\'s hook)', async () => {
    let seen: string[] = [];
    const { cmd, output } = run('echo "$WRAPPED $1"', { args: ['f.js'], wrap: (argv) => { seen = argv; return ['env', 'WRAPPED=inside', ...argv]; } });
    await cmd.done;
    expect(seen).to.deep.equal(['sh', '-c', 'echo "$WRAPPED $1"', 'sh', 'f.js']);
    expect(output()).to.equal('inside f.js\n');
  });
});
