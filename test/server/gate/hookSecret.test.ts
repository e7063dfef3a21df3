import { expect } from 'chai';
import { chmodSync, chownSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GgError } from '../../../server/errors.js';
import { HookSecrets, ensureHookSecret, hookSecretPath, readHookSecret, serverSecretPath, storeServerSecret } from '../../../server/gate/hookSecret.js';
import { tempHome } from '../../helpers.js';

describe('hook secret (gate/hookSecret)', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome('gg-secret-'); });
  afterEach(() => home.cleanup());

  const codeOf = (fn: () => void): { code: string; status: number; message: string } => {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(GgError);
      return err as GgError;
    }
    throw new Error('expected a GgError');
  };

  it('creates a random secret in a 0600 file holding the header line, and keeps it', () => {
    const secret = ensureHookSecret(home.dir);
    expect(secret).to.match(/^[0-9a-f]{64}$/);
    const file = hookSecretPath(home.dir);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(readFileSync(file, 'utf8')).to.equal(`X-Greengate-Hook-Secret: ${secret}\n`);
    chmodSync(file, 0o644);
    expect(ensureHookSecret(home.dir)).to.equal(secret);
    expect(statSync(file).mode & 0o777, 'install tightens the mode again').to.equal(0o600);
    const other = tempHome('gg-secret-');
    expect(ensureHookSecret(other.dir)).to.not.equal(secret);
    other.cleanup();
  });

  it('accepts the right secret and answers 401 GG_HOOK_SECRET to a missing or wrong one', () => {
    const secrets = new HookSecrets();
    const secret = ensureHookSecret(home.dir);
    secrets.check('shop', home.dir, secret);
    for (const given of [undefined, '', 'f'.repeat(64), secret.slice(1), `${secret} `]) {
      const err = codeOf(() => secrets.check('shop', home.dir, given));
      expect(err.code).to.equal('GG_HOOK_SECRET');
      expect(err.status).to.equal(401);
      expect(err.message).to.match(/hook secret/).and.match(/greengate hook install|header/);
    }
  });

  it('notices a new secret in the file, and trusts no file that others can read or that is malformed', () => {
    const secrets = new HookSecrets();
    const file = hookSecretPath(home.dir);
    expect(codeOf(() => secrets.check('shop', home.dir, 'x')).message).to.match(/greengate-hook-secret is missing.*greengate hook install/);
    const secret = ensureHookSecret(home.dir);
    secrets.check('shop', home.dir, secret);
    chmodSync(file, 0o640);
    expect(codeOf(() => secrets.check('shop', home.dir, secret)).message).to.match(/can be read by other users \(mode 640\)/);
    chmodSync(file, 0o600);
    secrets.check('shop', home.dir, secret);
    const next = 'b'.repeat(64);
    writeFileSync(file, `X-Greengate-Hook-Secret: ${next}\n`);
    expect(readHookSecret(home.dir)).to.equal(next);
    secrets.check('shop', home.dir, next);
    expect(codeOf(() => secrets.check('shop', home.dir, secret)).code).to.equal('GG_HOOK_SECRET');
    writeFileSync(file, 'just some text\n');
    expect(codeOf(() => secrets.check('shop', home.dir, next)).message).to.match(/is not one line/);
  });

  it('checks the server\'s own copy (data/hook-secrets/NAME, 0600) and, once it has one, never the repository\'s file', () => {
    const secrets = new HookSecrets();
    const data = join(home.dir, 'data');
    const repoSecret = ensureHookSecret(home.dir);
    const own = 'c'.repeat(64);
    storeServerSecret(data, 'shop', own);
    const file = serverSecretPath(data, 'shop');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(statSync(dirname(file)).mode & 0o777).to.equal(0o700);
    secrets.check('shop', home.dir, own, data);
    expect(codeOf(() => secrets.check('shop', home.dir, repoSecret, data)).code).to.equal('GG_HOOK_SECRET');
    rmSync(hookSecretPath(home.dir));
    secrets.check('shop', home.dir, own, data);
    const next = 'd'.repeat(64);
    storeServerSecret(data, 'shop', next);
    secrets.forget('shop');
    secrets.check('shop', home.dir, next, data);
    expect(codeOf(() => storeServerSecret(data, 'shop', 'not hex')).code).to.equal('GG_HOOK_SECRET');
  });

  it('without a copy of its own, trusts no repository file owned by another user (single-user installs only)', function () {
    if (process.getuid?.() !== 0) this.skip(); // giving a file to another user needs root
    const secrets = new HookSecrets();
    const secret = ensureHookSecret(home.dir);
    chownSync(hookSecretPath(home.dir), 65534, 65534);
    const err = codeOf(() => secrets.check('shop', home.dir, secret, join(home.dir, 'data')));
    expect(err.status).to.equal(401);
    expect(err.message).to.match(/belongs to uid 65534, not to the server's user \(uid 0\)/).and.match(/--admin-token-file/);
  });

  it('gives the hook\'s copy to the repository\'s group, mode 0640, when asked', function () {
    const secret = ensureHookSecret(home.dir, { mode: 0o640, gid: statSync(home.dir).gid });
    expect(statSync(hookSecretPath(home.dir)).mode & 0o777).to.equal(0o640);
    expect(ensureHookSecret(home.dir)).to.equal(secret);
    expect(statSync(hookSecretPath(home.dir)).mode & 0o777).to.equal(0o600);
  });
});
