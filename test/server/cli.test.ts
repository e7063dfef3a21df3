import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, NODE_FLAGS, ROOT } from '../helpers.js';

/** Runs the built `greengate` command (dist/server/cli.js) and returns what it printed. */
function greengate(...args: string[]) {
  return spawnSync(process.execPath, [...NODE_FLAGS, CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('the greengate command (server/cli.ts)', () => {
  it('prints a command group\'s help for `greengate hook --help` and `-h`, exit status 0', () => {
    for (const flag of ['--help', '-h']) {
      const r = greengate('hook', flag);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(r.stdout).to.contain('greengate hook install BARE_REPO --server URL');
      expect(r.stdout).to.contain('greengate hook install --help');
    }
  });

  it('prints the version for -v, -V and --version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['-v', '-V', '--version']) {
      const r = greengate(flag);
      expect([r.status, r.stdout, r.stderr]).to.deep.equal([0, `${version}\n`, '']);
    }
  });

  it('never recommends a token on the command line (--token, --admin-token) in a message', () => {
    const advice = /\b(pass|use|with|try|add|give)\s+`?--(admin-)?token\b(?!-)/i;
    const found = [...sources(join(ROOT, 'server')), ...sources(join(ROOT, 'runner'))]
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').map((line, i) => ({ at: `${file.slice(ROOT.length)}:${i + 1}`, line })))
      .filter(({ line }) => advice.test(line)).map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(found).to.deep.equal([]);
  });
});
