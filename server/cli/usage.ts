/**
 * The command line's grammar: a table of commands (server/cli.ts holds it), each with its own
 * options, usage text and `--help`. Parsing is strict: an unknown command or flag is a UsageError
 * (exit 2) that names the closest known one ("did you mean …?") and points at the command's help.
 * A command adds a flag by adding a line to its `options`; help and suggestions follow from it.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { suggestKey } from '../config/problems.js';
import { GgError } from '../errors.js';

/** A command line this command cannot run: GG_USAGE, exit status 2. */
export class UsageError extends GgError {
  constructor(message: string) { super('GG_USAGE', message); }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What the value looks like in the usage line (string options), e.g. FILE, URL, N. */
  value?: string;
  help: string;
  /** Shown without brackets in the usage line. */
  required?: boolean;
  /** Accepted (old scripts) but not shown. */
  hidden?: boolean;
  /** May be given more than once (its value is then a list). */
  multiple?: boolean;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface CommandSpec {
  /** One word, or two for a subcommand ("hook install"). */
  name: string;
  summary: string;
  /** Positional arguments in the usage line, e.g. "BARE_REPO" or "[status|close|open|maintenance]". */
  args?: string;
  /** How many positional arguments it takes at most (default 0). */
  positionals?: number;
  options: Record<string, OptionSpec>;
  /** Paragraphs after the option list. */
  details?: string;
  run(values: Values, positionals: string[]): Promise<void>;
}

export function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function synopsis(spec: CommandSpec): string {
  const parts = [`greengate ${spec.name}`];
  if (spec.args) parts.push(spec.args);
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.hidden) continue;
    const flag = o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`;
    parts.push(o.required ? flag : `[${flag}]`);
  }
  return parts.join(' ');
}

export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).filter(([, o]) => !o.hidden)
    .map(([name, o]) => [o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`, o.help]);
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = [`usage: ${synopsis(spec)}`, '', spec.summary, '', 'options:',
    ...rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`)];
  if (spec.details) lines.push('', spec.details);
  return lines.join('\n');
}

export function globalHelp(specs: readonly CommandSpec[], version: string): string {
  const width = Math.max(...specs.map((s) => s.name.length)) + 2;
  return [`greengate ${version}: a CI server with a commit gate`, '', 'usage: greengate <command> [options]', '',
    ...specs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`), '',
    '`greengate <command> --help` shows a command\'s options; `greengate --version` (-v) its version.',
    'Secrets never on the command line: --token-file FILE or GREENGATE_RUNNER_TOKEN (runners),',
    '--admin-token-file FILE or GREENGATE_ADMIN_TOKEN (admin). PORT overrides the port.'].join('\n');
}

/** The help of a command group ("hook"): each subcommand's summary and usage line; null when `word` names no group. */
export function groupHelp(specs: readonly CommandSpec[], word: string): string | null {
  const subs = specs.filter((s) => s.name.startsWith(`${word} `));
  if (subs.length === 0) return null;
  return [`usage: greengate ${word} <${subs.map((s) => s.name.split(' ')[1]).join('|')}> [options]`, '',
    ...subs.flatMap((s) => [`  ${s.name}: ${s.summary}`, `    ${synopsis(s)}`]), '',
    ...subs.map((s) => `\`greengate ${s.name} --help\` explains its options.`)].join('\n');
}

/** The command argv names, and the arguments after its name; a mistyped name is a UsageError with a suggestion. */
export function findCommand(specs: readonly CommandSpec[], argv: string[]): { spec: CommandSpec; rest: string[] } {
  const [first = '', second] = argv;
  const two = specs.find((s) => s.name === `${first} ${second}`);
  if (two) return { spec: two, rest: argv.slice(2) };
  const one = specs.find((s) => s.name === first);
  if (one) return { spec: one, rest: argv.slice(1) };
  const subs = specs.filter((s) => s.name.startsWith(`${first} `));
  if (subs.length > 0) {
    const words = subs.map((s) => s.name.split(' ')[1]);
    if (second === undefined || second === '--help' || second === '-h') {
      throw new UsageError(`${first}: name a subcommand: ${words.join(', ')}\n\n${subs.map((s) => `usage: ${synopsis(s)}`).join('\n')}`);
    }
    const near = suggestKey(second, words);
    throw new UsageError(`${first}: unknown subcommand "${second}"${near ? ` — did you mean "${first} ${near}"?` : ''}` +
      `\n\n${subs.map((s) => `usage: ${synopsis(s)}`).join('\n')}`);
  }
  const near = suggestKey(first, [...new Set(specs.map((s) => s.name.split(' ')[0]))]);
  throw new UsageError(`unknown command "${first}"${near ? ` — did you mean "${near}"?` : ''} (greengate --help lists the commands)`);
}

/** Parses one command's arguments; returns null when --help was asked for (the help is printed). */
export function parseCommandArgs(spec: CommandSpec, args: string[], out: (text: string) => void): { values: Values; positionals: string[] } | null {
  checkFlags(spec, args);
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: (spec.positionals ?? 0) > 0, strict: true });
  } catch (err) {
    throw new UsageError(`${spec.name}: ${(err as Error).message.trim()}\n\nusage: ${synopsis(spec)}\n(greengate ${spec.name} --help explains each option)`);
  }
  const values = parsed.values as Values;
  if (values.help) {
    out(commandHelp(spec) + '\n');
    return null;
  }
  if (parsed.positionals.length > (spec.positionals ?? 0)) {
    throw new UsageError(`${spec.name}: unexpected argument "${parsed.positionals[spec.positionals ?? 0]}"\n\nusage: ${synopsis(spec)}`);
  }
  return { values, positionals: parsed.positionals };
}

/** Unknown --flags, before parseArgs, so the error can suggest the flag that was meant. */
function checkFlags(spec: CommandSpec, args: string[]): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') return;
    if (!arg.startsWith('--')) continue;
    const [name, inline] = [arg.slice(2).split('=')[0], arg.includes('=')];
    if (name === 'help') continue;
    const known = spec.options[name];
    if (!known) {
      const near = suggestKey(name, Object.keys(spec.options).filter((k) => !spec.options[k].hidden));
      throw new UsageError(`${spec.name}: unknown option "--${name}"${near ? ` — did you mean "--${near}"?` : ''}` +
        `\n\nusage: ${synopsis(spec)}\n(greengate ${spec.name} --help explains each option)`);
    }
    if (known.type === 'string' && !inline) i++; // its value is not a flag (parseArgs explains --flag=--value)
  }
}

export function intOption(value: string | boolean | string[] | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined || typeof value === 'boolean') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}
