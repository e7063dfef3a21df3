import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { chooseToken, readTokenFile } from '../../../server/cli/tokenFile.js';

describe('server/cli/tokenFile', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-token-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('reads a token file, trimmed, and warns when others may read it', () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'the-token-123\n', { mode: 0o600 });
    const warnings: string[] = [];
    expect(readTokenFile(file, '--token-file', (l) => warnings.push(l))).to.equal('the-token-123');
    expect(warnings).to.deep.equal([]);
    fs.chmodSync(file, 0o644);
    readTokenFile(file, '--token-file', (l) => warnings.push(l));
    expect(warnings[0]).to.contain(`chmod 600 ${file}`);
  });

  it('says what is wrong with a missing or empty file', () => {
    expect(() => readTokenFile(path.join(dir, 'nope'), '--token-file', () => undefined)).to.throw(/--token-file .*nope: cannot read it \(ENOENT\)/);
    fs.writeFileSync(path.join(dir, 'empty'), '\n');
    expect(() => readTokenFile(path.join(dir, 'empty'), '--token-file', () => undefined)).to.throw(/the file is empty — write the token into it/);
  });

  it('prefers the file, then the environment, and warns about a token on the command line', () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'from-file-1\n', { mode: 0o600 });
    const warnings: string[] = [];
    const warn = (l: string) => { warnings.push(l); };
    expect(chooseToken({ file, fileFlag: '--token-file', env: 'from-env-1', argvFlag: '--token' }, warn)).to.equal('from-file-1');
    expect(chooseToken({ fileFlag: '--token-file', env: 'from-env-1', argvFlag: '--token' }, warn)).to.equal('from-env-1');
    expect(warnings).to.deep.equal([]);
    expect(chooseToken({ fileFlag: '--token-file', argv: 'from-argv-1', argvFlag: '--token' }, warn)).to.equal('from-argv-1');
    expect(warnings[0]).to.contain('--token puts the token on the command line');
  });
});
