#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The `greengate` command: serve, runner, hook install, tree, demo, start. Parses arguments,
 * loads what is needed, starts things; nothing else happens here.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { GgError } from './errors.js';

const USAGE = `usage: greengate <command> [options]

  serve   [--config greengate.yml] [--port 8010] [--data DIR]
  runner  --server http://HOST:PORT [--token-file FILE] [--name NAME] [--slots N (default: the CPUs)] [--work DIR] [--label key=value]...
  hook install BARE_REPO --server http://HOST:PORT [--repo NAME] [--gated "BRANCH …"]
  tree    [status|close|open|maintenance] --server URL [--message TEXT] [--repo NAME] [--branch B] [--admin-token-file FILE]
  demo    sample repository, hooks, server and two runners at http://localhost:8010
  start   serve with ./greengate.yml when present, else the demo

Secrets never on the command line: --token-file FILE or GREENGATE_RUNNER_TOKEN (runners),
--admin-token-file FILE or GREENGATE_ADMIN_TOKEN (admin).
PORT overrides the port.`;

// The shebang's --max-semi-space-size=1: a long-running server with small, short-lived
// allocations; a 1 MB young generation keeps its resident memory ~10 MB lower (docs/benchmarks.md).
export const NODE_FLAGS = ['--max-semi-space-size=1'];

/** A command line this command cannot run: GG_USAGE, exit status 2. */
function usage(message: string): GgError {
  return new GgError('GG_USAGE', message);
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    throw usage(`${(err as Error).message}\n\n${USAGE}`);
  }
  if ((parsed.values as Record<string, unknown>).help) { process.stdout.write(USAGE + '\n'); process.exit(0); }
  if (parsed.positionals.length > positionals) throw usage(`unexpected argument "${parsed.positionals[positionals]}"\n\n${USAGE}`);
  return parsed;
}

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw usage(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse(args, { config: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' } });
  const file = resolve(values.config ?? 'greengate.yml');
  if (!existsSync(file)) {
    throw usage(`no configuration at ${file}: write a greengate.yml (see README.md) or pass --config; \`greengate demo\` runs a sample setup`);
  }
  const { loadConfig } = await import('./config/config.js');
  const config = loadConfig(file);
  const port = intOption(process.env.PORT || values.port, 'port', 0, 65535) ?? config.port;
  const data = values.data ? resolve(values.data) : config.data;
  const { startServer } = await import('./main.js');
  const server = await startServer({ config: Object.freeze({ ...config, data, port }), port }).catch(async (err) => {
    const { storageFaultOf } = await import('./store/health.js');
    const { refineFault } = await import('./storageHealth.js');
    const fault = refineFault(storageFaultOf(err), data);
    if (!fault) throw err;
    throw new Error(`cannot open the database in ${data} (${fault.sqliteCode}): `
      + (fault.kind === 'full' ? 'its disk is full; free space on it and start again' : 'its disk failed or the file is read-only; check them and start again'));
  });
  const { installProcessGuard } = await import('./storageHealth.js');
  installProcessGuard(server.health, server.log);
  process.stdout.write(`greengate serving ${server.baseUrl} (data in ${data})\n`);
  onSignals(() => server.close());
}

async function runner(args: string[]): Promise<void> {
  const { values } = parse(args, {
    server: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, name: { type: 'string' },
    slots: { type: 'string' }, work: { type: 'string' },
    label: { type: 'string', multiple: true },
  });
  const server = values.server ?? process.env.GREENGATE_SERVER;
  if (!server || !/^https?:\/\/[^\s]+$/.test(server)) throw usage('runner: --server http://HOST:PORT is required');
  const { chooseToken } = await import('./cli/tokenFile.js');
  const token = chooseToken({ file: values['token-file'], fileFlag: '--token-file', env: process.env.GREENGATE_RUNNER_TOKEN,
    argv: values.token, argvFlag: '--token' });
  if (!token) throw usage('runner: pass --token-file FILE or set GREENGATE_RUNNER_TOKEN (the runnerToken of greengate.yml)');
  if (values.name !== undefined && !/^[A-Za-z0-9._@:-]{1,100}$/.test(values.name)) {
    throw usage('runner: --name may hold letters, digits and . _ @ : - (at most 100)');
  }
  const cpus = availableParallelism();
  const slots = intOption(values.slots, 'slots', 1, 64) ?? Math.min(cpus, 64);
  if (slots > cpus) process.stderr.write(`greengate runner: ${slots} slots on ${cpus} CPUs: more than ${cpus} busy slots only contend\n`);
  const labels = await parseLabels(values.label ?? []);
  const { Agent } = await import('../runner/agent.js');
  const agent = new Agent({ server, token, name: values.name, slots, labels, workDir: resolve(values.work ?? '.greengate-runner') });
  agent.onFatal = () => { void agent.stop().then(() => process.exit(3)); };
  agent.start();
  onSignals(() => agent.stop());
}

async function parseLabels(flags: string[]): Promise<Record<string, string>> {
  const { MAX_LABELS, parseLabel } = await import('./protocol.js');
  const labels: Record<string, string> = {};
  for (const flag of flags) {
    let key: string, value: string;
    try { [key, value] = parseLabel(flag); } catch (err) { throw usage(`runner: ${(err as Error).message}`); }
    if (key in labels && labels[key] !== value) throw usage(`runner: --label ${key} is given twice (${labels[key]}, ${value}): keep one`);
    labels[key] = value;
  }
  if (Object.keys(labels).length > MAX_LABELS) throw usage(`runner: at most ${MAX_LABELS} --label flags`);
  return labels;
}

async function hook(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'install') throw usage(`hook: the only subcommand is "install"\n\n${USAGE}`);
  const { values, positionals } = parse(rest, { server: { type: 'string' }, repo: { type: 'string' }, gated: { type: 'string' } }, 1);
  if (!positionals[0]) throw usage('hook install: name the bare repository: greengate hook install BARE_REPO --server URL');
  if (!values.server) throw usage('hook install: --server http://HOST:PORT is required');
  const { installHooks, rememberGated } = await import('./gate/hookInstall.js');
  const gated = values.gated === undefined ? undefined : values.gated.split(/[\s,]+/).filter(Boolean);
  const r = installHooks(resolve(positionals[0]), { server: values.server, repo: values.repo, gated });
  process.stdout.write(`installed ${r.hooks.join(', ')} in ${positionals[0]} for repository "${r.repo}"\n`);
  if (gated) return;
  const { gatedBranchesOf } = await import('./cli/hookGated.js');
  const fromServer = await gatedBranchesOf(values.server, r.repo);
  if (Array.isArray(fromServer)) {
    rememberGated(resolve(positionals[0]), fromServer);
    process.stdout.write(`gated branches (from the server): ${fromServer.join(' ') || 'none'}\n`);
  } else {
    process.stdout.write(`note: ${fromServer}; until the hook's first verdict every branch counts as gated when the server is unreachable (or pass --gated "main release")\n`);
  }
}

async function tree(args: string[]): Promise<void> {
  const actions = ['status', 'close', 'open', 'maintenance'] as const;
  const { values, positionals } = parse(args, {
    server: { type: 'string' }, message: { type: 'string' }, repo: { type: 'string' }, branch: { type: 'string' },
    'admin-token': { type: 'string' }, 'admin-token-file': { type: 'string' }, json: { type: 'boolean' },
  }, 1);
  const action = (positionals[0] ?? 'status') as (typeof actions)[number];
  if (!actions.includes(action)) throw usage(`tree: unknown action "${action}": use status, close, open or maintenance`);
  const { runTreeCommand } = await import('./cli/tree.js');
  const { chooseToken } = await import('./cli/tokenFile.js');
  const adminToken = chooseToken({ file: values['admin-token-file'], fileFlag: '--admin-token-file',
    env: process.env.GREENGATE_ADMIN_TOKEN, argv: values['admin-token'], argvFlag: '--admin-token' });
  process.exitCode = await runTreeCommand(action, {
    server: values.server ?? process.env.GREENGATE_SERVER, message: values.message, repo: values.repo, branch: values.branch,
    adminToken, json: values.json,
  } as Parameters<typeof runTreeCommand>[1]);
}

async function demo(args: string[]): Promise<void> {
  parse(args, {});
  const { runDemo } = await import('./cli/demo.js');
  await runDemo({ port: intOption(process.env.PORT, 'port', 0, 65535) ?? 8010 });
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'serve': return serve(args);
    case 'runner': return runner(args);
    case 'hook': return hook(args);
    case 'tree': return tree(args);
    case 'demo': return demo(args);
    case 'start': return existsSync('greengate.yml') ? serve(args) : demo(args);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE + '\n');
      return;
    default:
      throw usage(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`greengate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof GgError && err.code === 'GG_USAGE' ? 2 : 1);
});
