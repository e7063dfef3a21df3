import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_POLICY, SandboxError, borrowedObjects, checkPolicy, chooseSandbox, findBwrap, type SandboxPolicy,
} from '../../runner/sandbox.js';
import { tempHome } from '../helpers.js';

const BWRAP = findBwrap();

describe('runner/sandbox: choosing it', () => {
  it('uses bwrap when found (auto, bwrap) and none only when asked or missing, never as root', () => {
    expect(chooseSandbox('auto', { root: true, bwrap: '/usr/bin/bwrap' }).sandbox.kind).to.equal('bwrap');
    expect(chooseSandbox('bwrap', { root: false, bwrap: '/usr/bin/bwrap' }).sandbox.kind).to.equal('bwrap');
    const none = chooseSandbox('none', { root: false, bwrap: '/usr/bin/bwrap' });
    expect(none.sandbox.kind).to.equal('none');
    expect(none.warning).to.contain('WITHOUT a sandbox').and.contain('own');
    expect(chooseSandbox('auto', { root: false, bwrap: null }).sandbox.kind).to.equal('none');
    expect(() => chooseSandbox('none', { root: true, bwrap: '/usr/bin/bwrap' })).to.throw(SandboxError, 'refusing to run units as root');
    expect(() => chooseSandbox('auto', { root: true, bwrap: null })).to.throw(SandboxError, 'install bubblewrap');
    expect(() => chooseSandbox('bwrap', { root: false, bwrap: null })).to.throw(SandboxError, 'bwrap is not on PATH');
  });

  it('refuses builder paths that are relative, hold "..", are "/" or open the runner\'s work dir', () => {
    const policy = (writable: string[]): SandboxPolicy => ({ ...DEFAULT_POLICY, writable });
    expect(() => checkPolicy(policy(['/srv/deployed']), '/var/runner')).not.to.throw();
    expect(() => checkPolicy(policy(['/var']), '/var/runner')).not.to.throw(); // hidden again after it
    for (const bad of ['srv', '/srv/../etc', '/', '/var/runner', '/var/runner/shop/slot-1']) {
      expect(() => checkPolicy(policy([bad]), '/var/runner'), bad).to.throw(SandboxError, bad);
    }
  });

  it('follows a slot\'s alternates to every object directory it borrows', () => {
    const home = tempHome();
    try {
      const a = join(home.dir, 'slot', '.git', 'objects');
      const b = join(home.dir, 'mirror.git', 'objects');
      const c = join(home.dir, 'server.git', 'objects');
      for (const d of [a, b, c]) mkdirSync(join(d, 'info'), { recursive: true });
      writeFileSync(join(a, 'info', 'alternates'), `${b}\n`);
      writeFileSync(join(b, 'info', 'alternates'), `# a comment\n${c}\n${join(home.dir, 'gone')}\n`);
      expect(borrowedObjects(a)).to.deep.equal([b, c]);
      expect(borrowedObjects(c)).to.deep.equal([]);
    } finally {
      home.cleanup();
    }
  });
});

describe('runner/sandbox: bwrap (a real sandbox)', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let work: string;
  let slot: string;
  before(function () {
    if (!BWRAP) {
      console.log('      skipped: bwrap is not installed here — apt-get install bubblewrap to prove the real sandbox (.ci/run installs it)');
      this.skip();
    }
  });
  beforeEach(() => {
    home = tempHome();
    work = join(home.dir, 'runner');
    slot = join(work, 'shop', 'slot-0');
    mkdirSync(join(slot, '.git'), { recursive: true });
    mkdirSync(join(work, 'shop', 'slot-1'), { recursive: true });
    writeFileSync(join(work, 'instance-id'), 'f'.repeat(32));
  });
  afterEach(() => home.cleanup());

  function run(script: string, policy: Partial<SandboxPolicy> = {}, hide: string[] = []) {
    const { sandbox } = chooseSandbox('bwrap', { root: process.getuid?.() === 0, bwrap: BWRAP });
    const argv = sandbox.wrap(['sh', '-c', script], { workspace: slot, workDir: work, hide }, { ...DEFAULT_POLICY, ...policy });
    return spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  }

  it('writes only its workspace and a private /tmp; .git, other slots and the work dir\'s files are out of reach', () => {
    const tokenFile = join(home.dir, 'token');
    writeFileSync(tokenFile, 'secret-token-value\n', { mode: 0o600 });
    const r = run(`set -u; pwd; id -u; echo ok > here && echo wrote-workspace; echo x > /tmp/x && echo wrote-tmp
      echo x > .git/x 2>/dev/null && echo WROTE-GIT; ls ../slot-1 2>/dev/null && echo SAW-SLOT; cat '${join(work, 'instance-id')}' 2>/dev/null && echo SAW-ID
      cat '${tokenFile}' | grep -q secret && echo SAW-TOKEN; echo x > '${join(home.dir, 'outside')}' 2>/dev/null; ls /proc | grep -c '^[0-9]'`,
    {}, [tokenFile]);
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).to.deep.equal([slot, '1000', 'wrote-workspace', 'wrote-tmp']);
    expect(r.stdout, r.stdout).not.to.match(/WROTE-GIT|SAW-SLOT|SAW-ID|SAW-TOKEN/);
    expect(existsSync(join(home.dir, 'outside')), 'a write outside stays in the sandbox\'s own /tmp').to.equal(false);
    expect(existsSync(join(slot, 'here'))).to.equal(true);
    expect(Number(lines.at(-1))).to.be.below(5); // its own PID namespace: sh, ls, grep and bwrap's init
  });

  it('shows a repository it borrows objects from as its objects only (no hook secret, hooks or config)', () => {
    // Outside /tmp (the sandbox's own /tmp hides everything under it anyway).
    const server = mkdtempSync('/var/tmp/gg-sandbox-');
    try {
      const objects = join(server, 'shop.git', 'objects');
      mkdirSync(join(objects, 'info'), { recursive: true });
      writeFileSync(join(objects, 'ab'), 'an object\n');
      writeFileSync(join(server, 'shop.git', 'greengate-hook-secret'), 'hook-secret-value\n', { mode: 0o600 });
      mkdirSync(join(slot, '.git', 'objects', 'info'), { recursive: true });
      writeFileSync(join(slot, '.git', 'objects', 'info', 'alternates'), `${objects}\n`);
      const r = run(`cat '${join(objects, 'ab')}'; cat '${join(server, 'shop.git', 'greengate-hook-secret')}' 2>/dev/null || echo hidden`);
      expect(r.stdout.trim().split('\n'), r.stderr).to.deep.equal(['an object', 'hidden']);
    } finally {
      rmSync(server, { recursive: true, force: true });
    }
  });

  it('opens its repository\'s package cache under the work dir for writing, and no other repository\'s', () => {
    const mine = join(work, 'shop', 'packages');
    const theirs = join(work, 'other', 'packages');
    for (const d of [mine, theirs]) mkdirSync(d, { recursive: true });
    writeFileSync(join(theirs, 'tarball'), 'another repository\'s package\n');
    const { sandbox } = chooseSandbox('bwrap', { root: process.getuid?.() === 0, bwrap: BWRAP });
    const argv = sandbox.wrap(['sh', '-c', `echo cached > '${mine}/tarball' && echo wrote; cat '${theirs}/tarball' 2>/dev/null || echo hidden`],
      { workspace: slot, workDir: work, hide: [], packageCache: mine }, DEFAULT_POLICY);
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(r.stdout.trim().split('\n'), r.stderr).to.deep.equal(['wrote', 'hidden']);
    expect(existsSync(join(mine, 'tarball')), 'the cache outlives the command').to.equal(true);
  });

  it('opens the builder\'s writable paths, and the network only when asked', () => {
    const out = join(home.dir, 'deployed');
    mkdirSync(out);
    expect(run(`echo x > '${out}/f' && echo wrote`, { writable: [out] }).stdout.trim()).to.equal('wrote');
    const interfaces = "sed -n 's/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev | sort | tr '\\n' ' '";
    expect(run(interfaces, { network: false }).stdout.trim()).to.equal('lo');
    expect(run(interfaces, { network: true }).stdout.trim()).not.to.equal('lo');
  });

  it('ends every process of the command with it, a setsid child too', () => {
    const started = Date.now();
    // A marker of its own: other tests (and other suites' files, run in parallel) may be sleeping too.
    const marker = `gg-setsid-${process.pid}-${Date.now()}`;
    const r = run(`setsid sh -c "sleep 30; echo ${marker}" </dev/null >/dev/null 2>&1 & echo started`);
    expect(r.stdout.trim()).to.equal('started');
    expect(Date.now() - started).to.be.below(10_000);
    expect(spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim()).to.equal('');
  });
});
