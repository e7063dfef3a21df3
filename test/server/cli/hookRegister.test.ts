import { expect } from 'chai';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GgError } from '../../../server/errors.js';
import { registerHookSecret } from '../../../server/cli/hookRegister.js';
import { ensureHookSecret, readServerSecret, serverSecretPath } from '../../../server/gate/hookSecret.js';
import { ADMIN_TOKEN, Repo, ServerProcess, tempHome, writeConfig } from '../../helpers.js';

describe('hook install gives the server its own copy of the hook secret (cli/hookRegister)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let repo: Repo;
  const data = () => join(home.dir, 'data');
  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
    ensureHookSecret(repo.bare);
  });
  after(async () => {
    await server.kill();
    home.cleanup();
  });

  const refusal = async (p: Promise<unknown>): Promise<GgError> => {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(GgError);
      return err as GgError;
    }
    throw new Error('expected a refusal');
  };

  it('without the admin token registers nothing and says what that means', async () => {
    const line = await registerHookSecret(server.url, 'shop', repo.bare, undefined);
    expect(line).to.contain('--admin-token-file').and.contain('runs as the repository\'s owner');
    expect(existsSync(serverSecretPath(data(), 'shop'))).to.equal(false);
  });

  it('a wrong admin token or an unknown repository is refused with the server\'s answer, and nothing is stored', async () => {
    const wrong = await refusal(registerHookSecret(server.url, 'shop', repo.bare, 'not-the-token'));
    expect(wrong.code).to.equal('GG_HOOK_INSTALL');
    expect(wrong.message).to.contain('HTTP 401').and.contain('--admin-token-file');
    const unknown = await refusal(registerHookSecret(server.url, 'nope', repo.bare, ADMIN_TOKEN));
    expect(unknown.message).to.contain('HTTP 404');
    expect(existsSync(serverSecretPath(data(), 'shop'))).to.equal(false);
  });

  it('with the admin token the server keeps a 0600 copy of the repository\'s secret', async () => {
    const line = await registerHookSecret(server.url, 'shop', repo.bare, ADMIN_TOKEN);
    expect(line).to.contain('keeps its own copy');
    expect(readServerSecret(data(), 'shop')).to.equal(ensureHookSecret(repo.bare));
    expect(statSync(serverSecretPath(data(), 'shop')).mode & 0o777).to.equal(0o600);
  });
});
