import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, isValidBranchName, loadConfig, parseConfig } from '../../../server/config/config.js';

const EXAMPLE = `port: 8010
data: ./.greengate                 # SQLite database, logs, workspaces
runnerToken: \${GREENGATE_RUNNER_TOKEN}   # \${VAR} expands from the environment
adminToken: \${GREENGATE_ADMIN_TOKEN}     # needed to close/open the tree, cancel, rebuild
repositories:
  - name: shop
    path: /srv/git/shop.git          # bare repository on this host
    gate: [main]                     # branches the pre-receive hook guards
    builders:
      - name: unit
        setup: npm ci                # once per runner workspace per build
        tests: "test/**/*.test.js"   # files to shard, matched at the commit
        run: node --test --test-reporter=junit --test-reporter-destination=junit.xml "$@"
        junit: "junit.xml"           # optional: per-test results
        timeout: 600                 # seconds without progress before a unit is failed
`;
const TOKENS = { GREENGATE_RUNNER_TOKEN: 'runner-secret-1', GREENGATE_ADMIN_TOKEN: 'admin-secret-1' };

/** A config with one repository whose builders are the given YAML lines (indented 6 spaces). */
function withBuilders(builders: string): string {
  return `runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n` +
    `    builders:\n${builders}`;
}

describe('server/config', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-config-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(text: string, name = 'greengate.yml'): string {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  }

  function catchConfigError(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError, nothing was thrown');
  }

  function loadError(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
    const file = writeConfig(text);
    return catchConfigError(() => loadConfig(file, env));
  }

  it('loads the example from ARCHITECTURE.md with its environment variables', () => {
    const file = writeConfig(EXAMPLE);
    const cfg = loadConfig(file, TOKENS);
    expect(cfg).to.deep.equal({
      port: 8010,
      data: path.join(dir, '.greengate'),
      baseUrl: null,
      runnerToken: 'runner-secret-1',
      adminToken: 'admin-secret-1',
      repositories: [{
        name: 'shop',
        path: '/srv/git/shop.git',
        gate: ['main'],
        builders: [{
          name: 'unit',
          setup: 'npm ci',
          tests: 'test/**/*.test.js',
          run: 'node --test --test-reporter=junit --test-reporter-destination=junit.xml "$@"',
          junit: 'junit.xml',
          timeout: 600,
          quarantine: [],
          unitTargetSeconds: 2,
        }],
      }],
    });
  });

  it('fills in every default', () => {
    const file = writeConfig(withBuilders('      - name: unit\n        run: npm test\n').replace(
      '    path: /srv/git/shop.git\n', '    path: shop.git\n'));
    const cfg = loadConfig(file, {});
    expect(cfg.port).to.equal(8010);
    expect(cfg.data).to.equal(path.join(dir, '.greengate'));
    expect(cfg.baseUrl).to.equal(null);
    expect(cfg.adminToken).to.equal(null);
    expect(cfg.repositories[0].gate).to.deep.equal([]);
    expect(cfg.repositories[0].builders[0]).to.deep.equal({
      name: 'unit', setup: null, tests: null, run: 'npm test', junit: null,
      timeout: 600, quarantine: [], unitTargetSeconds: 2,
    });
    const bare = parseConfig('runnerToken: abcdefgh\n', { baseDir: dir });
    expect(bare.repositories).to.deep.equal([]);
  });

  it('resolves data and repository paths against the config file folder, not the cwd', () => {
    const file = writeConfig('runnerToken: abcdefgh\ndata: state\nrepositories:\n' +
      '  - name: shop\n    path: ../git/shop.git\n    builders: [{ name: unit, run: "true" }]\n',
    'etc/greengate.yml');
    const cfg = loadConfig(path.relative(process.cwd(), file), {});
    expect(cfg.data).to.equal(path.join(dir, 'etc', 'state'));
    expect(cfg.repositories[0].path).to.equal(path.join(dir, 'git', 'shop.git'));
    expect(path.isAbsolute(cfg.data)).to.equal(true);
  });

  it('names a misspelt nested key, its position and the likely spelling', () => {
    const file = writeConfig(withBuilders(
      '      - name: unit\n        run: npm test\n      - name: lint\n        run: npm run lint\n        tiemout: 60\n'));
    const err = catchConfigError(() => loadConfig(file, {}));
    expect(err.code).to.equal('GG_CONFIG_INVALID');
    expect(err.keyPath).to.equal('repositories[0].builders[1].tiemout');
    expect(err.file).to.equal(file);
    expect(err.message).to.equal(
      `${file}:10:9: repositories[0].builders[1].tiemout: unknown key "tiemout" — did you mean "timeout"?`);
  });

  it('lists the allowed keys when an unknown key resembles none of them', () => {
    const err = loadError('runnerToken: abcdefgh\ncolourScheme: dark\n');
    expect(err.keyPath).to.equal('colourScheme');
    expect(err.message).to.include('unknown key "colourScheme" — allowed keys: port, data, baseUrl, runnerToken');
  });

  it('says what type was expected and what was found', () => {
    const err = loadError(withBuilders('      - name: unit\n        run: npm test\n        timeout: ten minutes\n'));
    expect(err.keyPath).to.equal('repositories[0].builders[0].timeout');
    expect(err.message).to.include('expected a number, found the string "ten minutes"');
    const token = loadError('runnerToken: 123456789\n');
    expect(token.message).to.include('runnerToken: expected a string, found the number 123456789 — quote it: "123456789"');
    const gate = loadError('runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: x\n    gate: main\n' +
      '    builders: [{ name: unit, run: "true" }]\n');
    expect(gate.message).to.include('repositories[0].gate: expected a list, found the string "main" — write a list: [main]');
  });

  it('reports a missing required run with its key path', () => {
    const err = loadError(withBuilders('      - name: unit\n        setup: npm ci\n'));
    expect(err.keyPath).to.equal('repositories[0].builders[0].run');
    expect(err.message).to.include('missing required key "run" — add it, e.g. run: npm test');
  });

  it('rejects an invalid branch name in gate', () => {
    const err = loadError('runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: x\n' +
      '    gate: [main, "release..1"]\n    builders: [{ name: unit, run: "true" }]\n');
    expect(err.keyPath).to.equal('repositories[0].gate[1]');
    expect(err.message).to.include('"release..1" is not a valid git branch name');
  });

  it('names the key and the variable when an environment variable is not set', () => {
    const err = loadError(EXAMPLE, { GREENGATE_ADMIN_TOKEN: 'admin-secret-1' });
    expect(err.keyPath).to.equal('runnerToken');
    expect(err.message).to.match(/:3:1: runnerToken: environment variable GREENGATE_RUNNER_TOKEN is not set \(export it, or write the value in greengate\.yml\)$/);
    expect(err.problems).to.have.length(1); // no second complaint about the token's length
  });

  it('uses ${VAR:-default} when the variable is unset or empty, the variable otherwise', () => {
    const text = 'port: ${PORT:-9000}\nrunnerToken: ${TOKEN:-fallback-token}\nadminToken: ${ADMIN:-}\n';
    const unset = parseConfig(text, { baseDir: dir, env: {} });
    expect(unset).to.include({ port: 9000, runnerToken: 'fallback-token', adminToken: null });
    const empty = parseConfig(text, { baseDir: dir, env: { PORT: '', TOKEN: '' } });
    expect(empty).to.include({ port: 9000, runnerToken: 'fallback-token' });
    const set = parseConfig(text, { baseDir: dir, env: { PORT: '8123', TOKEN: 'from-env-token', ADMIN: 'adm' } });
    expect(set).to.include({ port: 8123, runnerToken: 'from-env-token', adminToken: 'adm' });
  });

  it('coerces numeric strings from the environment and checks their range', () => {
    const cfg = parseConfig('port: ${PORT}\nrunnerToken: abcdefgh\n', { baseDir: dir, env: { PORT: '8010' } });
    expect(cfg.port).to.equal(8010);
    const err = catchConfigError(() =>
      parseConfig('port: ${PORT}\nrunnerToken: abcdefgh\n', { baseDir: dir, env: { PORT: '70000' } }));
    expect(err.keyPath).to.equal('port');
    expect(err.message).to.equal('line 1:1: port: must be a whole number from 0 to 65535');
  });

  it('keeps $${ as a literal ${ and leaves other dollars alone', () => {
    const cfg = loadConfig(writeConfig(withBuilders(
      '      - name: unit\n        run: echo "$@" $${HOME} ${NAME}\n')), { NAME: 'x', HOME: '/home/nobody' });
    expect(cfg.repositories[0].builders[0].run).to.equal('echo "$@" ${HOME} x');
  });

  it('reports a YAML syntax error with its line and column', () => {
    const err = loadError('runnerToken: abcdefgh\nrepositories:\n  - name: shop\n   path: [x\n');
    expect(err.keyPath).to.equal('');
    expect(err.problems[0].line).to.be.a('number');
    expect(err.message).to.match(/greengate\.yml:\d+:\d+: YAML syntax error: /);
    const dup = loadError('runnerToken: abcdefgh\nport: 1\nport: 2\n');
    expect(dup.message).to.match(/greengate\.yml:3:1: YAML syntax error: Map keys must be unique/);
  });

  it('names both positions of a duplicate builder or repository name', () => {
    const err = loadError(withBuilders('      - name: unit\n        run: a\n      - name: unit\n        run: b\n'));
    expect(err.keyPath).to.equal('repositories[0].builders[1].name');
    expect(err.message).to.include(':8:9: repositories[0].builders[1].name: duplicate builder name "unit" ' +
      '(also at repositories[0].builders[0].name, line 6)');
    const repos = loadError('runnerToken: abcdefgh\nrepositories:\n' +
      '  - { name: shop, path: a, builders: [{ name: unit, run: a }] }\n' +
      '  - { name: shop, path: b, builders: [{ name: unit, run: b }] }\n');
    expect(repos.keyPath).to.equal('repositories[1].name');
    expect(repos.message).to.include('duplicate repository name "shop" (also at repositories[0].name, line 3)');
  });

  it('reports every problem at once, one per line, in file order', () => {
    const err = loadError('port: http\nrunnerToken: short\nrepositories:\n' +
      '  - name: "-bad"\n    path: x\n    builders: []\n    gaet: [main]\n');
    expect(err.keyPath).to.equal('port');
    expect(err.problems.map((p) => p.keyPath)).to.deep.equal([
      'port', 'runnerToken', 'repositories[0].name', 'repositories[0].builders', 'repositories[0].gaet',
    ]);
    const lines = err.message.split('\n');
    expect(lines).to.have.length(5);
    expect(lines[1]).to.include('runnerToken: must be at least 8 characters');
    expect(lines[3]).to.include('must list at least one builder');
    expect(lines[4]).to.include('unknown key "gaet" — did you mean "gate"?');
  });

  it('caps the message at ten problems and says how many more there are', () => {
    const keys = Array.from({ length: 13 }, (_, i) => `extra${i}: 1`).join('\n');
    const err = loadError(`runnerToken: abcdefgh\n${keys}\n`);
    expect(err.problems).to.have.length(13);
    const lines = err.message.split('\n');
    expect(lines).to.have.length(11);
    expect(lines[10]).to.equal('… and 3 more problems');
  });

  it('returns a deeply frozen config', () => {
    const cfg = loadConfig(writeConfig(EXAMPLE), TOKENS);
    expect(Object.isFrozen(cfg)).to.equal(true);
    expect(Object.isFrozen(cfg.repositories[0].builders[0].quarantine)).to.equal(true);
    expect(() => { (cfg as { port: number }).port = 1; }).to.throw(TypeError);
    expect(() => { cfg.repositories[0].gate.push('dev'); }).to.throw(TypeError);
  });

  it('says so when the file is missing', () => {
    const file = path.join(dir, 'nope.yml');
    const err = catchConfigError(() => loadConfig(file, {}));
    expect(err.file).to.equal(file);
    expect(err.keyPath).to.equal('');
    expect(err.message).to.equal(`${file}: config file not found (looked at ${file}) — create it, or pass --config PATH`);
  });

  it('treats an empty optional value as null and normalises baseUrl', () => {
    const cfg = parseConfig('runnerToken: abcdefgh\nbaseUrl: ${URL}\nadminToken: ""\n',
      { baseDir: dir, env: { URL: 'https://ci.example.com/' } });
    expect(cfg).to.include({ baseUrl: 'https://ci.example.com', adminToken: null });
    const err = catchConfigError(() => parseConfig('runnerToken: abcdefgh\nbaseUrl: ci.example.com\n', { baseDir: dir }));
    expect(err.keyPath).to.equal('baseUrl');
    expect(err.message).to.include('must be an http:// or https:// URL');
  });

  it('accepts tests as one glob or a list, and exclude as one glob or a list', () => {
    const cfg = parseConfig(withBuilders(
      '      - name: unit\n        run: npm test\n        tests: ["test/**/*.test.js", "src/**/*.spec.ts"]\n' +
      '        exclude: [test/fixtures/**, "**/*.slow.test.js"]\n' +
      '      - name: lint\n        run: npm run lint\n        tests: "lint/*.js"\n        exclude: lint/skip.js\n'), { baseDir: dir });
    expect(cfg.repositories[0].builders[0]).to.deep.include({
      tests: ['test/**/*.test.js', 'src/**/*.spec.ts'], exclude: ['test/fixtures/**', '**/*.slow.test.js'] });
    expect(cfg.repositories[0].builders[1]).to.deep.include({ tests: 'lint/*.js', exclude: ['lint/skip.js'] });
  });

  it('names the bad glob in tests and exclude, and how to fix it', () => {
    const problems = (yaml: string) => catchConfigError(() => parseConfig(withBuilders(`      - name: unit\n        run: npm test\n${yaml}`),
      { baseDir: dir })).problems.map((p) => `${p.keyPath}: ${p.message}`);
    expect(problems('        tests: ["test/*.js", "/abs/*.js", "../up/*.js"]\n')).to.deep.equal([
      'repositories[0].builders[0].tests[1]: "/abs/*.js" is absolute; globs match paths inside the repository — write it relative, e.g. "abs/*.js"',
      'repositories[0].builders[0].tests[2]: "../up/*.js" leaves the repository with ".." — write a path inside it',
    ]);
    expect(problems('        tests: ["test/*.js", "!test/fixtures/**"]\n')).to.deep.equal([
      'repositories[0].builders[0].tests[1]: "!test/fixtures/**" is a negation — list the files to leave out under exclude: instead, e.g. exclude: ["test/fixtures/**"]',
    ]);
    expect(problems('        tests: []\n')).to.deep.equal([
      'repositories[0].builders[0].tests: must list at least one glob, e.g. ["test/**/*.test.js", "src/**/*.spec.ts"]',
    ]);
    expect(problems('        tests: "test/*.js"\n        exclude: 3\n')).to.deep.equal([
      'repositories[0].builders[0].exclude: must be a glob or a list of globs, e.g. ["test/fixtures/**"]',
    ]);
    expect(problems('        tests: "test/*.js"\n        exclude: [""]\n')).to.deep.equal([
      'repositories[0].builders[0].exclude[0]: must not be empty — give a glob such as "test/**/*.test.js"',
    ]);
    expect(problems('        tests: "test/*.js"\n        excludes: [a]\n')).to.deep.equal([
      'repositories[0].builders[0].excludes: unknown key "excludes" — did you mean "exclude"?',
    ]);
  });

  it('reads a builder\'s cache: and setupOnHit, and names what is wrong in them', () => {
    const ok = parseConfig(withBuilders('      - name: unit\n        setup: npm ci\n        run: npm test\n' +
      '        cache: [{ paths: [node_modules, "**/node_modules"], key: [package-lock.json] }]\n        setupOnHit: npm run build\n'), { baseDir: dir });
    expect(ok.repositories[0].builders[0]).to.deep.include({
      cache: [{ paths: ['node_modules', '**/node_modules'], key: ['package-lock.json'] }], setupOnHit: 'npm run build' });
    const plain = parseConfig(withBuilders('      - { name: unit, setup: npm ci, run: npm test }\n'), { baseDir: dir });
    expect(plain.repositories[0].builders[0]).to.not.have.any.keys('cache', 'setupOnHit'); // absent: the runner's defaults

    const cases: [string, string, string][] = [
      ['cache: [{ paths: [../outside], key: [a.lock] }]', 'repositories[0].builders[0].cache[0].paths[0]', 'relative to the workspace root, without ".."'],
      ['cache: [{ paths: [/abs], key: [a.lock] }]', 'repositories[0].builders[0].cache[0].paths[0]', 'leading "/"'],
      ['cache: [{ paths: [.git/hooks], key: [a.lock] }]', 'repositories[0].builders[0].cache[0].paths[0]', '".git"'],
      ['cache: [{ paths: [node_modules], key: [] }]', 'repositories[0].builders[0].cache[0].key', 'at least one file whose content keys the cache'],
      ['cache: [{ paths: node_modules, key: [a.lock] }]', 'repositories[0].builders[0].cache[0].paths', 'write a list: [node_modules]'],
      ['cache: [{ paths: [node_modules], keys: [a.lock] }]', 'repositories[0].builders[0].cache[0].keys', 'did you mean "key"?'],
    ];
    for (const [line, keyPath, says] of cases) {
      const err = loadError(withBuilders(`      - name: unit\n        setup: npm ci\n        run: npm test\n        ${line}\n`));
      expect(err.problems.map((p) => p.keyPath), line).to.include(keyPath);
      expect(err.message, line).to.include(says);
    }
    const noSetup = loadError(withBuilders('      - name: unit\n        run: npm test\n        cache: [{ paths: [x], key: [y] }]\n        setupOnHit: "true"\n'));
    expect(noSetup.problems.map((p) => [p.keyPath, p.line])).to.deep.equal([
      ['repositories[0].builders[0].cache', 8], ['repositories[0].builders[0].setupOnHit', 9]]);
    expect(noSetup.message).to.include('keeps what setup makes, but this builder has no setup — add setup: (e.g. npm ci) or remove cache');
  });

  it('checks branch names by git check-ref-format rules', () => {
    for (const ok of ['main', 'feature/x', 'release-1.2', 'a@b', 'v1.0/hot_fix', 'refs/heads/main']) {
      expect(isValidBranchName(ok), ok).to.equal(true);
    }
    for (const bad of ['', 'a..b', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[b', 'a\\b', 'a\tb', 'a\x7fb',
      '-main', '/main', 'main/', 'main.lock', 'main.', 'a@{b', 'a//b', '.hidden', 'a/.b', 'x.lock/y', 'HEAD', '@']) {
      expect(isValidBranchName(bad), JSON.stringify(bad)).to.equal(false);
    }
  });
  it('takes runsOn labels and a cloneUrl, and says what is wrong with bad ones', () => {
    const cfg = parseConfig('runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n' +
      '    cloneUrl: git@github.com:acme/shop.git\n    builders:\n      - name: unit\n        run: npm test\n' +
      '        runsOn: { os: linux, gpu: true, arch: x86_64 }\n', { baseDir: '/' });
    expect(cfg.repositories[0].builders[0].runsOn).to.deep.equal({ os: 'linux', gpu: 'true', arch: 'x86_64' });
    expect(cfg.repositories[0].cloneUrl).to.equal('git@github.com:acme/shop.git');
    const label = loadError(withBuilders('      - name: unit\n        run: npm test\n        runsOn: { os: "linux box" }\n'));
    expect(label.keyPath).to.equal('repositories[0].builders[0].runsOn.os');
    expect(label.message).to.include('must be a label value').and.include('--label key=value');
    const url = loadError('runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: x\n    cloneUrl: /srv/git/shop.git\n' +
      '    builders: [{ name: unit, run: "true" }]\n');
    expect(url.keyPath).to.equal('repositories[0].cloneUrl');
    expect(url.message).to.include('must be a URL git can fetch from');
  });
});
