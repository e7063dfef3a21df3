#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The `greengate` command: serve, runner, hook install, tree, demo, start. Parses arguments,
 * loads what is needed, starts things; nothing else happens here.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const USAGE = `usage: greengate <command> [options]

  serve   [--config greengate.yml] [--port 8010] [--data DIR]
  runner  --server http://HOST:PORT --token TOKEN [--name NAME] [--slots N] [--work DIR] [--label key=value]...
  hook install BARE_REPO --server http://HOST:PORT [--repo NAME]
  tree    [status|close|open|maintenance] --server URL [--message TEXT] [--repo NAME] [--branch B] [--admin-token T]
  demo    sample repository, hooks, server and two runners at http://localhost:8010
  start   serve with ./greengate.yml when present, else the demo

Secrets: --token or GREENGATE_RUNNER_TOKEN (runners), --admin-token or GREENGATE_ADMIN_TOKEN (admin).
PORT overrides the port.`;

// The shebang's --max-semi-space-size=1: a long-running server with small, short-lived
// allocations; a 1 MB young generation keeps its resident memory ~10 MB lower (docs/benchmarks.md).
export const NODE_FLAGS = ['--max-semi-space-size=1'];

export class UsageError extends Error {
  readonly code = 'GG_USAGE';
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if ((parsed.values as Record<string, unknown>).help) { process.stdout.write(USAGE + '\n'); process.exit(0); }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"\n\n${USAGE}`);
  return parsed;
}

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse(args, { config: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' } });
  const file = resolve(values.config ?? 'greengate.yml');
  if (!existsSync(file)) {
    throw new UsageError(`no configuration at ${file}: write a greengate.yml (see README.md) or pass --config; \`greengate demo\` runs a sample setup`);
  }
  const { loadConfig } = await import('./config/config.js');
  const config = loadConfig(file);
  const port = intOption(process.env.PORT || values.port, 'port', 0, 65535) ?? config.port;
  const data = values.data ? resolve(values.data) : config.data;
  const { startServer } = await import('./main.js');
  const server = await startServer({ config: Object.freeze({ ...config, data, port }), port });
  process.stdout.write(`greengate serving ${server.app.baseUrl} (data in ${data})\n`);
  onSignals(() => server.close());
}

async function runner(args: string[]): Promise<void> {
  const { values } = parse(args, {
    server: { type: 'string' }, token: { type: 'string' }, name: { type: 'string' }, slots: { type: 'string' }, work: { type: 'string' },
    label: { type: 'string', multiple: true },
  });
  const server = values.server ?? process.env.GREENGATE_SERVER;
  if (!server || !/^https?:\/\/[^\s]+$/.test(server)) throw new UsageError('runner: --server http://HOST:PORT is required');
  const token = values.token ?? process.env.GREENGATE_RUNNER_TOKEN;
  if (!token) throw new UsageError('runner: pass --token or set GREENGATE_RUNNER_TOKEN (the runnerToken of greengate.yml)');
  if (values.name !== undefined && !/^[A-Za-z0-9._@:-]{1,100}$/.test(values.name)) {
    throw new UsageError('runner: --name may hold letters, digits and . _ @ : - (at most 100)');
  }
  const slots = intOption(values.slots, 'slots', 1, 64) ?? 1;
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
    try { [key, value] = parseLabel(flag); } catch (err) { throw new UsageError(`runner: ${(err as Error).message}`); }
    if (key in labels && labels[key] !== value) throw new UsageError(`runner: --label ${key} is given twice (${labels[key]}, ${value}): keep one`);
    labels[key] = value;
  }
  if (Object.keys(labels).length > MAX_LABELS) throw new UsageError(`runner: at most ${MAX_LABELS} --label flags`);
  return labels;
}

async function hook(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'install') throw new UsageError(`hook: the only subcommand is "install"\n\n${USAGE}`);
  const { values, positionals } = parse(rest, { server: { type: 'string' }, repo: { type: 'string' } }, 1);
  if (!positionals[0]) throw new UsageError('hook install: name the bare repository: greengate hook install BARE_REPO --server URL');
  if (!values.server) throw new UsageError('hook install: --server http://HOST:PORT is required');
  const { installHooks } = await import('./gate/hookInstall.js');
  const r = installHooks(resolve(positionals[0]), { server: values.server, repo: values.repo });
  process.stdout.write(`installed ${r.hooks.join(', ')} in ${positionals[0]} for repository "${r.repo}"\n`);
}

async function tree(args: string[]): Promise<void> {
  const actions = ['status', 'close', 'open', 'maintenance'] as const;
  const { values, positionals } = parse(args, {
    server: { type: 'string' }, message: { type: 'string' }, repo: { type: 'string' }, branch: { type: 'string' },
    'admin-token': { type: 'string' }, json: { type: 'boolean' },
  }, 1);
  const action = (positionals[0] ?? 'status') as (typeof actions)[number];
  if (!actions.includes(action)) throw new UsageError(`tree: unknown action "${action}": use status, close, open or maintenance`);
  const { runTreeCommand } = await import('./cli/tree.js');
  process.exitCode = await runTreeCommand(action, {
    server: values.server ?? process.env.GREENGATE_SERVER, message: values.message, repo: values.repo, branch: values.branch,
    adminToken: values['admin-token'] ?? process.env.GREENGATE_ADMIN_TOKEN, json: values.json,
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
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: Error & { code?: string }) => {
  process.stderr.write(`greengate: ${err.message}\n`);
  process.exit(err.code === 'GG_USAGE' ? 2 : 1);
});
