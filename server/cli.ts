#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The `greengate` command: a table of commands, each with its options and help (grammar in
 * cli/usage.ts; the commands of each group in cli/processCommands.ts, cli/hookCommands.ts,
 * cli/adminCommands.ts, their shared options in cli/options.ts). Parses arguments, loads what is needed, starts things; nothing else happens here.
 * Exit codes: 0 done, 1 failed, 2 a usage error, 3 a runner the server refuses for good.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  UsageError, findCommand, globalHelp, groupHelp, parseCommandArgs, readVersion, type CommandSpec, type Values,
} from './cli/usage.js';
import { say, str } from './cli/options.js';
import { DEMO_COMMAND, RUNNER_COMMAND, SERVE_COMMAND, SERVE_OPTIONS } from './cli/processCommands.js';
import { HOOK_INSTALL_COMMAND, HOOK_PROC_RECEIVE_COMMAND } from './cli/hookCommands.js';
import { ADMIN_COMMANDS } from './cli/adminCommands.js';

export { UsageError } from './cli/usage.js';

// The shebang's --max-semi-space-size=1: a long-running server with small, short-lived
// allocations; a 1 MB young generation keeps its resident memory ~10 MB lower (docs/benchmarks.md).
export const NODE_FLAGS = ['--max-semi-space-size=1'];

// The commands, in the order help lists them; each group's module in server/cli/.
const COMMANDS: CommandSpec[] = [
  SERVE_COMMAND,
  RUNNER_COMMAND,
  HOOK_INSTALL_COMMAND,
  HOOK_PROC_RECEIVE_COMMAND,
  ...ADMIN_COMMANDS,
  {
    name: 'backup', summary: 'copy the database to FILE while the server runs (SQLite online backup)',
    args: 'FILE', positionals: 1,
    options: {
      config: { type: 'string', value: 'FILE', help: 'find the database through this configuration (default ./greengate.yml)' },
      data: { type: 'string', value: 'DIR', help: 'the data directory holding greengate.db (instead of --config)' },
      'no-artifacts': { type: 'boolean', help: 'copy the database alone, not DATA/artifacts (to FILE.artifacts/)' },
    },
    details: 'The copy is checked (it opens, passes SQLite\'s integrity check) and written 0600. The artifacts\' files\n' +
      '(DATA/artifacts/sha256/…) are copied after it to FILE.artifacts/ (see docs/operations.md).',
    async run(values, positionals) {
      if (!positionals[0]) throw new UsageError('backup: name the file to write: greengate backup FILE');
      const { runBackup } = await import('./cli/backup.js');
      await runBackup({ dest: resolve(positionals[0]), config: str(values.config), data: str(values.data), artifacts: values['no-artifacts'] !== true });
    },
  },
  DEMO_COMMAND,
  {
    name: 'start', summary: 'what `npm start` runs: serve with ./greengate.yml when present, else the demo',
    options: SERVE_OPTIONS,
    async run(values, positionals) {
      if (process.env.npm_lifecycle_event === 'start') {
        // Under npm: when npm is gone (SIGKILL), take the server and runners down with it.
        const { watchParent } = await import('./cli/lifetime.js');
        watchParent(() => process.kill(process.pid, 'SIGTERM'));
      }
      const serve = values.config !== undefined || existsSync('greengate.yml');
      const spec = COMMANDS.find((c) => c.name === (serve ? 'serve' : 'demo'))!;
      return spec.run(spec.name === 'serve' ? values : {}, positionals);
    },
  },
];

export async function main(argv: string[]): Promise<void> {
  const [first] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const target = first === 'help' && argv.length > 1 ? findCommand(COMMANDS, argv.slice(1)).spec : null;
    say((target ? (await import('./cli/usage.js')).commandHelp(target) : globalHelp(COMMANDS, readVersion())) + '\n');
    return;
  }
  if (first === '--version' || first === '-V' || first === '-v' || first === 'version') {
    say(`${readVersion()}\n`);
    return;
  }
  const group = (argv[1] === '--help' || argv[1] === '-h') && argv.length === 2 ? groupHelp(COMMANDS, first) : null;
  if (group) {
    say(group + '\n');
    return;
  }
  const { spec, rest } = findCommand(COMMANDS, argv);
  const parsed = parseCommandArgs(spec, rest, say);
  if (!parsed) return;
  await spec.run(parsed.values as Values, parsed.positionals);
}

main(process.argv.slice(2)).catch((err: Error & { code?: string }) => {
  process.stderr.write(`greengate: ${err.message}\n`);
  process.exit(err.code === 'GG_USAGE' ? 2 : 1);
});

