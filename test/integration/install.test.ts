import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { ROOT, Repo, pollUntil, stopChild, tempHome } from '../helpers.js';

/**
 * A production install and its service units: what `npm ci --omit=dev` needs (every run-time
 * import is a dependency, prepare builds with a dependency), `greengate` on PATH, and the systemd
 * units of docs/operations.md: verified by systemd-analyze where it exists, and their command
 * lines run for real against this checkout.
 */
describe('install and service units', function () {
  this.timeout(60_000);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const docs = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
  const units = new Map<string, string>();
  for (const m of docs.matchAll(/`\/etc\/systemd\/system\/([\w@.-]+)`[^`]*?(?:`[^`]*`[^`]*?)*?\n```ini\n([\s\S]*?)```/g)) units.set(m[1], m[2]);
  const directive = (unit: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(units.get(unit) ?? '')?.[1];

  it('imports at run time only packages that npm ci --omit=dev installs, and builds with a dependency', () => {
    const deps = new Set(Object.keys(pkg.dependencies));
    const builtins = new Set(['node']);
    const found = new Map<string, string>();
    for (const dir of ['server', 'runner']) {
      for (const file of walk(join(ROOT, 'dist', dir)).filter((f) => f.endsWith('.js'))) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"./][^'"]*)['"]/g)) {
          const spec = m[1];
          if (spec.startsWith('node:') || builtins.has(spec)) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          found.set(name, relative(ROOT, file));
        }
      }
    }
    expect(found.size).to.be.greaterThan(5);
    for (const [name, file] of found) expect(deps.has(name), `${name} (imported by ${file}) must be in dependencies`).to.equal(true);
    expect(pkg.scripts.prepare).to.match(/^tsc -p tsconfig\.build\.json\b/);
    expect(deps.has('typescript'), 'prepare compiles with typescript: a dependency, so --omit=dev keeps it').to.equal(true);
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8'));
    expect(build.compilerOptions).to.include({ noCheck: true }); // no @types (dev) needed to emit
    expect(build.compilerOptions.types).to.deep.equal([]);
  });

  it('puts greengate on PATH with a symlink to dist/server/cli.js (docs/operations.md)', () => {
    const home = tempHome();
    try {
      mkdirSync(join(home.dir, 'bin'));
      symlinkSync(join(ROOT, 'dist', 'server', 'cli.js'), join(home.dir, 'bin', 'greengate'));
      const r = spawnSync('greengate', ['--version'], { encoding: 'utf8', cwd: home.dir,
        env: { ...process.env, PATH: `${join(home.dir, 'bin')}:${process.env.PATH}` } });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.equal(pkg.version);
      expect(docs).to.contain('sudo ln -s "$GG_HOME/dist/server/cli.js" "$GG_BIN/greengate"').and.contain('export GG_HOME=/opt/greengate')
        .and.contain('export GG_BIN=/usr/local/bin');
    } finally {
      home.cleanup();
    }
  });

  it('documents a server unit and a runner unit with an EnvironmentFile, a user, a restart policy and hardening', () => {
    expect([...units.keys()]).to.have.members(['greengate.service', 'greengate-runner@.service']);
    for (const unit of units.keys()) {
      expect(directive(unit, 'EnvironmentFile'), unit).to.match(/^\/etc\/greengate\/\w+\.env$/);
      expect(directive(unit, 'User'), unit).to.match(/^greengate/);
      expect(directive(unit, 'Restart'), unit).to.match(/^(on-failure|always)$/);
      expect(directive(unit, 'NoNewPrivileges'), unit).to.equal('yes');
      expect(directive(unit, 'ProtectSystem'), unit).to.match(/^(strict|full)$/);
      expect(units.get(unit), `${unit}: no secret in the unit`).not.to.match(/TOKEN=/);
    }
    expect(directive('greengate.service', 'ExecReload')).to.equal('/bin/kill -HUP $MAINPID');
  });

  it('lets the server write the bare repositories it pushes reverts into, and nothing else outside its state directory', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const repoPaths = [...readme.matchAll(/^\s+path: (\/\S+)/gm)].map((m) => m[1]);
    expect(repoPaths, 'README\'s example greengate.yml names a repository path').to.not.be.empty;
    const writable = (directive('greengate.service', 'ReadWritePaths') ?? '').split(/\s+/).filter(Boolean);
    expect(directive('greengate.service', 'ProtectSystem')).to.equal('strict');
    for (const path of repoPaths) {
      expect(writable.some((dir) => path.startsWith(`${dir}/`)), `${path} under ReadWritePaths=${writable.join(' ')}`).to.equal(true);
    }
    expect(writable.filter((dir) => !repoPaths.some((path) => path.startsWith(`${dir}/`))), 'no other writable path').to.deep.equal([]);
    expect(docs).not.to.match(/bare repositories included \(it\s+only reads them\)/);
  });

  it('passes systemd-analyze verify', function () {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      // A missing tool skips (never passes): the units were not verified. .ci/run installs systemd so CI skips nothing.
      console.log(`      skipped: systemd-analyze is not installed here (${probe.error.message}) — apt-get install systemd to verify the units`);
      this.skip();
    }
    const home = tempHome();
    try {
      const files: string[] = [];
      for (const [name, text] of units) {
        const file = join(home.dir, name.replace('@.', '@1.')); // verify a template through an instance
        writeFileSync(file, text.replaceAll('/usr/bin/node', process.execPath));
        files.push(file);
      }
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr.trim(), 'no warnings (unknown keys are only warned about)').to.equal('');
    } finally {
      home.cleanup();
    }
  });

  it('starts a server and a runner from the units\' command lines, with secrets from the environment file', async () => {
    const home = tempHome();
    const repo = new Repo(home.dir);
    const env = { GREENGATE_RUNNER_TOKEN: 'unit-file-runner-token', GREENGATE_ADMIN_TOKEN: 'unit-file-admin-token' };
    const configFile = join(home.dir, 'greengate.yml');
    writeFileSync(configFile, stringify({ port: 0, data: join(home.dir, 'state'), runnerToken: '${GREENGATE_RUNNER_TOKEN}',
      adminToken: '${GREENGATE_ADMIN_TOKEN}', repositories: [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }] }));
    const commandLine = (unit: string) => directive(unit, 'ExecStart')!
      .replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/greengate', ROOT.replace(/\/$/, ''))
      .replaceAll('/etc/greengate/greengate.yml', configFile).replaceAll('/var/lib/greengate-runner/%i', join(home.dir, 'runner'))
      .replaceAll('%H', 'host').replaceAll('%i', '1').split(' ');
    const [node, ...args] = commandLine('greengate.service');
    const server = spawn(node, args, { cwd: home.dir, env: { PATH: process.env.PATH, ...env, GREENGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout.on('data', (d) => { out += d; });
    server.stderr.on('data', (d) => { out += d; });
    const [rnode, ...rargs] = commandLine('greengate-runner@.service');
    let runner: ReturnType<typeof spawn> | undefined;
    try {
      const url = (await pollUntil(() => /serving http:\/\/localhost:(\d+)/.exec(out), 'the server to start', 20_000)).slice(1)[0];
      runner = spawn(rnode, rargs, { cwd: home.dir, env: { PATH: process.env.PATH, GREENGATE_SERVER: `http://127.0.0.1:${url}`,
        GREENGATE_RUNNER_TOKEN: env.GREENGATE_RUNNER_TOKEN }, stdio: 'ignore' });
      await pollUntil(async () => {
        const runners = await (await fetch(`http://127.0.0.1:${url}/healthz`)).json();
        return runners.runners === 1;
      }, 'the runner from the unit to connect');
      expect(rargs).to.include('host-1');
      const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
      server.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      await stopChild(runner);
      await stopChild(server);
      home.cleanup();
    }
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

