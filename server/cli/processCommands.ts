/**
 * The `greengate` commands that run a long-lived process: serve, runner and demo (cli.ts lists
 * them in its command table; `start` picks serve or demo).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { UsageError, intOption, type CommandSpec } from './usage.js';
import { onSignals } from './lifetime.js';
import { list, str } from './options.js';

export const SERVE_OPTIONS = {
  config: { type: 'string', value: 'FILE', help: 'the configuration (default ./greengate.yml)' },
  port: { type: 'string', value: 'N', help: 'listen on this port (default: port: in the file, 8010; PORT overrides)' },
  host: { type: 'string', value: 'ADDRESS', help: 'listen on this address (default: host: in the file, 0.0.0.0; 127.0.0.1 behind a proxy)' },
  data: { type: 'string', value: 'DIR', help: 'keep the SQLite database here (default: data: in the file)' },
} as const;

export const SERVE_COMMAND: CommandSpec = {
  name: 'serve', summary: 'run the server: web pages, API, runner gateway, git hooks\' verdicts',
  options: SERVE_OPTIONS,
  details: 'SIGTERM or SIGINT stop it cleanly; SIGHUP reloads the configuration (see docs/operations.md).',
  async run(values) {
    const file = resolve(str(values.config) ?? 'greengate.yml');
    if (!existsSync(file)) {
      throw new UsageError(`no configuration at ${file}: write a greengate.yml (see README.md) or pass --config; \`greengate demo\` runs a sample setup`);
    }
    const host = str(values.host);
    const { HOST_RULE, isListenHost } = await import('../config/listen.js');
    if (host !== undefined && !isListenHost(host)) throw new UsageError(`serve: --host "${host}" ${HOST_RULE}`);
    const { runServe } = await import('./serve.js');
    await runServe({ file, port: intOption(process.env.PORT || values.port, 'port', 0, 65535), host, data: str(values.data) });
  },
};

export const RUNNER_COMMAND: CommandSpec = {
  name: 'runner', summary: 'run a runner: take units from the server and run them',
  options: {
    server: { type: 'string', value: 'URL', required: true, help: 'the server\'s http://HOST:PORT (or GREENGATE_SERVER)' },
    'token-file': { type: 'string', value: 'FILE', help: 'a file holding the runner token (or GREENGATE_RUNNER_TOKEN)' },
    token: { type: 'string', hidden: true, help: 'the runner token on the command line (visible to every local user)' },
    name: { type: 'string', value: 'NAME', help: 'this runner\'s name (default HOST-PID)' },
    slots: { type: 'string', value: 'N', help: 'units run at once, 1-64 (default: the machine\'s CPUs; more only contend)' },
    work: { type: 'string', value: 'DIR', help: 'workspaces and the instance id (default ./.greengate-runner)' },
    label: { type: 'string', value: 'KEY=VALUE', multiple: true, help: 'what this runner offers (repeatable), e.g. os=linux; builders pick runners with runsOn:' },
    sandbox: { type: 'string', value: 'auto|bwrap|none', help: 'where units run: bwrap (bubblewrap), none, or auto (default: bwrap when found); as root, none is refused' },
    hide: { type: 'string', value: 'PATH', multiple: true, help: 'a file or folder units must not see (repeatable), e.g. the server\'s data dir on a shared host' },
  },
  details: 'Units run sandboxed with bubblewrap (see docs/operations.md). As root the runner refuses to run\n' +
    'units without it. A runner that cannot reach its server says so and keeps retrying with backoff. It exits with\n' +
    'code 3 when the server refuses it for good (wrong token, other protocol version, name in use).',
  async run(values) {
    const server = str(values.server) ?? process.env.GREENGATE_SERVER;
    if (!server || !/^https?:\/\/[^\s]+$/.test(server)) throw new UsageError('runner: --server http://HOST:PORT is required');
    const { chooseToken } = await import('./tokenFile.js');
    const token = chooseToken({ file: str(values['token-file']), fileFlag: '--token-file', env: process.env.GREENGATE_RUNNER_TOKEN,
      argv: str(values.token), argvFlag: '--token' });
    if (!token) throw new UsageError('runner: pass --token-file FILE or set GREENGATE_RUNNER_TOKEN (the runnerToken of greengate.yml)');
    const name = str(values.name);
    if (name !== undefined && !/^[A-Za-z0-9._@:-]{1,100}$/.test(name)) {
      throw new UsageError('runner: --name may hold letters, digits and . _ @ : - (at most 100)');
    }
    const cpus = availableParallelism();
    const slots = intOption(values.slots, 'slots', 1, 64) ?? Math.min(cpus, 64);
    if (slots > cpus) process.stderr.write(`greengate runner: ${slots} slots on ${cpus} CPUs: more than ${cpus} busy slots only contend\n`);
    const labels = await parseLabels(list(values.label));
    const { SANDBOX_MODES, chooseSandbox, findBwrap, SandboxError } = await import('../../runner/sandbox.js');
    const mode = str(values.sandbox) ?? 'auto';
    if (!(SANDBOX_MODES as readonly string[]).includes(mode)) throw new UsageError(`runner: --sandbox is one of ${SANDBOX_MODES.join(', ')}, not "${mode}"`);
    let chosen;
    try {
      chosen = chooseSandbox(mode as typeof SANDBOX_MODES[number], { root: process.getuid?.() === 0, bwrap: findBwrap() });
    } catch (err) {
      if (err instanceof SandboxError) throw new UsageError(`runner: ${err.message}`);
      throw err;
    }
    if (chosen.warning) process.stderr.write(`greengate runner: ${chosen.warning}\n`);
    const tokenFile = str(values['token-file']);
    const { Agent } = await import('../../runner/agent.js');
    const agent = new Agent({ server, token, name, slots, labels, workDir: resolve(str(values.work) ?? '.greengate-runner'),
      sandbox: chosen.sandbox, hide: [...(tokenFile ? [tokenFile] : []), ...list(values.hide)].map((p) => resolve(p)) });
    agent.onFatal = () => { void agent.stop().then(() => process.exit(3)); };
    agent.start();
    const stop = onSignals(() => agent.stop());
    if (process.env.GREENGATE_EXIT_WITH_PARENT === '1') {
      const { watchParent } = await import('./lifetime.js');
      watchParent(() => { process.stderr.write(`runner ${agent.name}: the process that started it is gone; stopping\n`); stop(); });
    }
  },
};

export const DEMO_COMMAND: CommandSpec = {
  name: 'demo', summary: 'a sample repository, hooks, server and two runners at http://localhost:8010',
  options: {},
  async run() {
    const { runDemo } = await import('./demo.js');
    await runDemo({ port: intOption(process.env.PORT, 'port', 0, 65535) ?? 8010 });
  },
};

/** `--label key=value` flags as a label map; a bad one or a key given twice is a usage error. */
async function parseLabels(flags: string[]): Promise<Record<string, string>> {
  const { MAX_LABELS, parseLabel } = await import('../protocol.js');
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
