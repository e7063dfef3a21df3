import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';

function withBuilder(lines: string): string {
  return 'runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n    builders:\n' +
    `      - name: unit\n        run: "true"\n${lines}`;
}

describe('server/config: builder env, secrets and maxLogBytes', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-secrets-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  function problems(text: string, env: NodeJS.ProcessEnv = {}): string {
    try {
      parseConfig(text, { baseDir: dir, env });
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  }

  it('reads env names, secret sources (files relative to the config) and the log cap', () => {
    fs.writeFileSync(path.join(dir, 'key'), 'file-secret-value\n');
    const cfg = parseConfig(withBuilder('        env: [NPM_CONFIG_CACHE]\n        maxLogBytes: 2048\n' +
      '        secrets: { NPM_TOKEN: { env: SERVER_NPM }, KEY: { file: key } }\n'), { baseDir: dir, env: { SERVER_NPM: 'npm-token-value' } });
    const b = cfg.repositories[0].builders[0];
    expect(b.env).to.deep.equal(['NPM_CONFIG_CACHE']);
    expect(b.maxLogBytes).to.equal(2048);
    expect(b.secrets).to.deep.equal({ NPM_TOKEN: { env: 'SERVER_NPM' }, KEY: { file: path.join(dir, 'key') } });
    expect(JSON.stringify(cfg)).not.to.contain('npm-token-value'); // values stay out of the config
  });

  it('names the secret and the fix when its source is unset, unreadable or too short to redact', () => {
    fs.writeFileSync(path.join(dir, 'short'), 'abc\n');
    const msg = problems(withBuilder('        secrets:\n          A: { env: UNSET_VAR }\n          B: { file: missing }\n          C: { file: short }\n'));
    expect(msg).to.contain('repositories[0].builders[0].secrets.A.env: secret A: environment variable UNSET_VAR is not set on the server — export it');
    expect(msg).to.match(/secrets\.B\.file: secret B: cannot read .*missing \(ENOENT\) — create it/);
    expect(msg).to.contain('secrets.C.file: secret C is shorter than 6 characters, so it could not be redacted from logs');
  });

  it('refuses GREENGATE_* and allowlisted names, bad sources and a cap out of range', () => {
    const msg = problems(withBuilder('        env: [GREENGATE_RUNNER_TOKEN, "1BAD"]\n        maxLogBytes: 10\n' +
      '        secrets: { S: { url: "http://x" } }\n'));
    expect(msg).to.contain('env[0]: GREENGATE_* variables are set by greengate');
    expect(msg).to.contain('env[1]: must be an environment variable name');
    expect(msg).to.contain('maxLogBytes: must be a whole number of bytes from 1024');
    expect(problems(withBuilder('        secrets: { PATH: { env: X } }\n'), { X: 'long-enough' }))
      .to.contain('secrets.PATH: must not be one of PATH, HOME, LANG, TZ, TMPDIR, CI');
    expect(msg).to.contain('secrets.S: must be { env: NAME } (from the server\'s environment) or { file: /path/to/file }');
  });
});
