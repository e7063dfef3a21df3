import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inlineTokenKeys, inlineTokenWarning, isListenHost } from '../../../server/config/listen.js';

describe('server/config/listen', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-listen-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('a listen host is an IP address or a host name, nothing with a port, a scheme or spaces', () => {
    for (const ok of ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost', 'ci.example.com']) expect(isListenHost(ok), ok).to.equal(true);
    for (const bad of ['', '127.0.0.1:8010', 'http://x', 'a b', '300.1.1.1:80', '-x', 'x..y']) expect(isListenHost(bad), bad).to.equal(false);
  });

  it('finds tokens written out, not ${VAR} ones', () => {
    expect(inlineTokenKeys({ runnerToken: 'abc12345', adminToken: '${GG_ADMIN}', alertmanagerToken: 'x'.repeat(16),
      admins: [{ name: 'ann', token: 'secret-ann-token' }, { name: 'bob', tokenFile: '/etc/bob' }] }))
      .to.deep.equal(['runnerToken', 'alertmanagerToken', 'admins[0].token']);
  });

  it('warns for a 0644 file with an inline token, not for 0600 nor for a 0644 file whose tokens are ${VAR}', () => {
    const file = path.join(dir, 'greengate.yml');
    fs.writeFileSync(file, 'runnerToken: the-runner-token-1\n');
    fs.chmodSync(file, 0o644);
    const warning = inlineTokenWarning(file);
    expect(warning).to.contain(`${file} holds runnerToken written out`).and.contain(`chmod 600 ${file}`).and.not.contain('the-runner-token-1');
    fs.chmodSync(file, 0o600);
    expect(inlineTokenWarning(file)).to.equal(null);
    fs.writeFileSync(file, 'runnerToken: ${GG_RUNNER_TOKEN}\n');
    fs.chmodSync(file, 0o644);
    expect(inlineTokenWarning(file)).to.equal(null);
  });
});
