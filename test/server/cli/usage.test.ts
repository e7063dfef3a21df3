import { expect } from 'chai';
import { UsageError, commandHelp, findCommand, parseCommandArgs, synopsis, type CommandSpec } from '../../../server/cli/usage.js';

const run = async () => undefined;
const SPECS: CommandSpec[] = [
  { name: 'serve', summary: 'serve it', run, options: { config: { type: 'string', value: 'FILE', help: 'the file' } } },
  { name: 'runner', summary: 'run units', run, options: {
    server: { type: 'string', value: 'URL', required: true, help: 'where' },
    token: { type: 'string', hidden: true, help: 'old' },
    label: { type: 'string', value: 'KEY=VALUE', help: 'a label' },
  } },
  { name: 'hook install', summary: 'hooks', args: 'BARE_REPO', positionals: 1, run, options: { repo: { type: 'string', value: 'NAME', help: 'name' } } },
];
const thrown = (fn: () => unknown): string => {
  try { fn(); } catch (err) { expect(err).to.be.instanceOf(UsageError); return (err as Error).message; }
  throw new Error('expected a UsageError');
};

describe('the command table (cli/usage)', () => {
  it('finds one- and two-word commands and suggests near misses', () => {
    expect(findCommand(SPECS, ['hook', 'install', 'x.git']).rest).to.deep.equal(['x.git']);
    expect(thrown(() => findCommand(SPECS, ['serv']))).to.contain('did you mean "serve"?');
    expect(thrown(() => findCommand(SPECS, ['runer']))).to.contain('did you mean "runner"?');
    expect(thrown(() => findCommand(SPECS, ['hook', 'instll']))).to.contain('did you mean "hook install"?');
    expect(thrown(() => findCommand(SPECS, ['hook']))).to.contain('name a subcommand: install');
    expect(thrown(() => findCommand(SPECS, ['zzzzzz']))).not.to.contain('did you mean');
  });

  it('suggests a flag, never a hidden one, and skips the values of string flags', () => {
    const runner = SPECS[1];
    expect(thrown(() => parseCommandArgs(runner, ['--sever', 'x'], () => undefined))).to.contain('did you mean "--server"?');
    expect(thrown(() => parseCommandArgs(runner, ['--tokn', 'x'], () => undefined))).not.to.contain('"--token"');
    expect(thrown(() => parseCommandArgs(runner, ['--server', '--odd'], () => undefined))).to.contain("use '--server=-XYZ'").and.not.to.contain('unknown option');
    expect(parseCommandArgs(runner, ['--server=--odd'], () => undefined)!.values.server).to.equal('--odd');
    expect(parseCommandArgs(runner, ['--label=os=linux', '--server=u'], () => undefined)!.values).to.include({ label: 'os=linux', server: 'u' });
  });

  it('prints the command\'s own help for --help and returns null', () => {
    let out = '';
    expect(parseCommandArgs(SPECS[1], ['--help'], (t) => { out += t; })).to.equal(null);
    expect(out).to.equal(commandHelp(SPECS[1]) + '\n');
    expect(out).to.contain('--label KEY=VALUE').and.not.to.contain('--token');
    expect(synopsis(SPECS[1])).to.equal('greengate runner --server URL [--label KEY=VALUE]');
    expect(synopsis(SPECS[2])).to.equal('greengate hook install BARE_REPO [--repo NAME]');
  });

  it('refuses extra positional arguments with the usage line', () => {
    expect(thrown(() => parseCommandArgs(SPECS[2], ['a.git', 'b.git'], () => undefined))).to.contain('unexpected argument "b.git"')
      .and.to.contain('usage: greengate hook install BARE_REPO');
  });
});
