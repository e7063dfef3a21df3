#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The `greengate` command: a table of commands, each with its options and help (grammar in
 * cli/usage.ts). Parses arguments, loads what is needed, starts things; nothing else happens here.
 * Exit codes: 0 done, 1 failed, 2 a usage error, 3 a runner the server refuses for good.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import {
  UsageError, findCommand, globalHelp, groupHelp, intOption, parseCommandArgs, readVersion, type CommandSpec, type Values,
} from './cli/usage.js';
import { onSignals } from './cli/lifetime.js';

export { UsageError } from './cli/usage.js';

// The shebang's --max-semi-space-size=1: a long-running server with small, short-lived
// allocations; a 1 MB young generation keeps its resident memory ~10 MB lower (docs/benchmarks.md).
export const NODE_FLAGS = ['--max-semi-space-size=1'];

const str = (v: string | boolean | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: string | boolean | string[] | undefined): string[] => (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []);

/** The options of every admin command: the server and the admin token (from a file or the environment). */
const ADMIN_OPTIONS: CommandSpec['options'] = {
  server: { type: 'string', value: 'URL', required: true, help: 'the server\'s http://HOST:PORT (or GREENGATE_SERVER)' },
  'admin-token-file': { type: 'string', value: 'FILE', help: 'a file holding the admin token (or GREENGATE_ADMIN_TOKEN)' },
  'admin-token': { type: 'string', hidden: true, help: 'the admin token on the command line' },
};
/** Which gated branch an admin command is about, and how it answers. */
const BRANCH_OPTIONS: CommandSpec['options'] = {
  repo: { type: 'string', value: 'NAME', help: 'the repository (default: the only one)' },
  branch: { type: 'string', value: 'B', help: 'the branch (default: the repository\'s first gated branch)' },
  json: { type: 'boolean', help: 'print the answer as JSON' },
};

/** The admin token: --admin-token-file, else GREENGATE_ADMIN_TOKEN, else --admin-token (with a warning). */
async function adminTokenOf(values: Values): Promise<string | undefined> {
  const { chooseToken } = await import('./cli/tokenFile.js');
  return chooseToken({ file: str(values['admin-token-file']), fileFlag: '--admin-token-file',
    env: process.env.GREENGATE_ADMIN_TOKEN, argv: str(values['admin-token']), argvFlag: '--admin-token' });
}
const say = (text: string) => process.stdout.write(text);

/** An admin command's action: its first argument, one of `actions` (the first is the default), or a UsageError naming them. */
function actionOf<A extends string>(command: string, positionals: readonly string[], actions: readonly A[]): A {
  const action = positionals[0] ?? actions[0];
  if (!(actions as readonly string[]).includes(action)) {
    throw new UsageError(`${command}: unknown action "${action}": use ${actions.slice(0, -1).join(', ')} or ${actions.at(-1)}`);
  }
  return action as A;
}

/** What an admin command about one gated branch sends (ADMIN_OPTIONS, BRANCH_OPTIONS and --message). */
async function branchRequest(values: Values) {
  return { server: str(values.server) ?? process.env.GREENGATE_SERVER, message: str(values.message), repo: str(values.repo),
    branch: str(values.branch), adminToken: await adminTokenOf(values), json: values.json === true };
}

const SERVE_OPTIONS = {
  config: { type: 'string', value: 'FILE', help: 'the configuration (default ./greengate.yml)' },
  port: { type: 'string', value: 'N', help: 'listen on this port (default: port: in the file, 8010; PORT overrides)' },
  host: { type: 'string', value: 'ADDRESS', help: 'listen on this address (default: host: in the file, 0.0.0.0; 127.0.0.1 behind a proxy)' },
  data: { type: 'string', value: 'DIR', help: 'keep the SQLite database here (default: data: in the file)' },
} as const;

const COMMANDS: CommandSpec[] = [
  {
    name: 'serve', summary: 'run the server: web pages, API, runner gateway, git hooks\' verdicts',
    options: SERVE_OPTIONS,
    details: 'SIGTERM or SIGINT stop it cleanly; SIGHUP reloads the configuration (see docs/operations.md).',
    async run(values) {
      const file = resolve(str(values.config) ?? 'greengate.yml');
      if (!existsSync(file)) {
        throw new UsageError(`no configuration at ${file}: write a greengate.yml (see README.md) or pass --config; \`greengate demo\` runs a sample setup`);
      }
      const host = str(values.host);
      const { HOST_RULE, isListenHost } = await import('./config/listen.js');
      if (host !== undefined && !isListenHost(host)) throw new UsageError(`serve: --host "${host}" ${HOST_RULE}`);
      const { runServe } = await import('./cli/serve.js');
      await runServe({ file, port: intOption(process.env.PORT || values.port, 'port', 0, 65535), host, data: str(values.data) });
    },
  },
  {
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
      const { chooseToken } = await import('./cli/tokenFile.js');
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
      const { SANDBOX_MODES, chooseSandbox, findBwrap, SandboxError } = await import('../runner/sandbox.js');
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
      const { Agent } = await import('../runner/agent.js');
      const agent = new Agent({ server, token, name, slots, labels, workDir: resolve(str(values.work) ?? '.greengate-runner'),
        sandbox: chosen.sandbox, hide: [...(tokenFile ? [tokenFile] : []), ...list(values.hide)].map((p) => resolve(p)) });
      agent.onFatal = () => { void agent.stop().then(() => process.exit(3)); };
      agent.start();
      const stop = onSignals(() => agent.stop());
      if (process.env.GREENGATE_EXIT_WITH_PARENT === '1') {
        const { watchParent } = await import('./cli/lifetime.js');
        watchParent(() => { process.stderr.write(`runner ${agent.name}: the process that started it is gone; stopping\n`); stop(); });
      }
    },
  },
  {
    name: 'hook install', summary: 'install the pre-receive, post-receive and proc-receive (land queue) hooks into a bare repository',
    args: 'BARE_REPO', positionals: 1,
    options: {
      server: { type: 'string', value: 'URL', required: true, help: 'the greengate server the hooks ask' },
      repo: { type: 'string', value: 'NAME', help: 'the repository\'s name in greengate.yml (default: the directory name without .git)' },
      gated: { type: 'string', value: '"BRANCH …"', help: 'the gated branches, for the hook to let other refs through while the server is down (default: asked from the server)' },
      'skip-server-check': { type: 'boolean', help: 'install even when the server cannot be asked (it is down on purpose)' },
      'admin-token-file': { type: 'string', value: 'FILE', help: 'a file holding the admin token (or GREENGATE_ADMIN_TOKEN): gives the server its own copy of the hook secret' },
    },
    details: 'Before installing, asks the server (GET /api/repos) whether it knows the repository, and refuses,\n' +
      'changing nothing, when it cannot be reached, does not answer as greengate, or does not know the repository.\n' +
      'Pass --skip-server-check to install while the server is down on purpose. With the admin token, gives the\n' +
      'server its own copy of the hook secret (needed when the server runs as another user than the repository\'s owner).',
    async run(values, positionals) {
      if (!positionals[0]) throw new UsageError('hook install: name the bare repository: greengate hook install BARE_REPO --server URL');
      const server = str(values.server);
      if (!server) throw new UsageError('hook install: --server http://HOST:PORT is required');
      const { checkServerUrl, installHooks, repoNameOf, rememberGated } = await import('./gate/hookInstall.js');
      checkServerUrl(server); // a malformed --server is named as such, before it is asked anything
      const gated = str(values.gated)?.split(/[\s,]+/).filter(Boolean);
      const bare = resolve(positionals[0]);
      if (!values['skip-server-check']) {
        const { checkServerKnows } = await import('./cli/hookCheck.js');
        await checkServerKnows(server, repoNameOf(bare, str(values.repo)));
      }
      const r = installHooks(bare, { server, repo: str(values.repo), gated });
      say(`installed ${r.hooks.join(', ')} in ${positionals[0]} for repository "${r.repo}"\n`);
      say(`hook secret: ${r.secretFile} (${r.access})\n`);
      const { registerHookSecret } = await import('./cli/hookRegister.js');
      try {
        say(`${await registerHookSecret(server, r.repo, bare, await adminTokenOf(values))}\n`);
      } catch (err) {
        if (!values['skip-server-check']) throw err;
        process.stderr.write(`greengate hook install: warning: ${(err as Error).message}\n`);
      }
      if (gated) return;
      const { gatedBranchesOf } = await import('./cli/hookGated.js');
      const fromServer = await gatedBranchesOf(server, r.repo);
      if (Array.isArray(fromServer)) {
        rememberGated(bare, fromServer);
        say(`gated branches (from the server): ${fromServer.join(' ') || 'none'}\n`);
      } else {
        say(`note: ${fromServer}; until the hook's first verdict every branch counts as gated when the server is unreachable (or pass --gated "main release")\n`);
      }
    },
  },
  {
    name: 'hook proc-receive', summary: 'git\'s proc-receive hook: queue a push to refs/for/BRANCH (run by git, installed by hook install)',
    options: {},
    details: 'Speaks git\'s proc-receive protocol on stdin/stdout in the bare repository; asks the server named by\n' +
      'greengate.server to queue the change (docs/land-queue.md).',
    async run() {
      const { runProcReceive } = await import('./cli/procReceive.js');
      await runProcReceive();
    },
  },
  {
    name: 'tree', summary: 'show or change a gated branch\'s tree state (open, closed, maintenance)',
    args: '[status|close|open|maintenance]', positionals: 1,
    options: {
      ...ADMIN_OPTIONS,
      message: { type: 'string', value: 'TEXT', help: 'why (required to close)' },
      ...BRANCH_OPTIONS,
    },
    async run(values, positionals) {
      const action = actionOf('tree', positionals, ['status', 'close', 'open', 'maintenance'] as const);
      const { runTreeCommand } = await import('./cli/tree.js');
      process.exitCode = await runTreeCommand(action, await branchRequest(values) as Parameters<typeof runTreeCommand>[1]);
    },
  },
  {
    name: 'build', summary: 'build a branch\'s head now, with params (admin)',
    options: {
      ...ADMIN_OPTIONS,
      ...BRANCH_OPTIONS,
      builder: { type: 'string', value: 'NAME', help: 'only this builder (default: every builder of the repository)' },
      param: { type: 'string', value: 'K=V', multiple: true, help: 'a declared param\'s value (repeatable), e.g. --param TARGET=staging' },
    },
    async run(values) {
      const { runBuildCommand } = await import('./cli/build.js');
      process.exitCode = await runBuildCommand({ server: str(values.server) ?? process.env.GREENGATE_SERVER, repo: str(values.repo),
        branch: str(values.branch), builder: str(values.builder), params: list(values.param), adminToken: await adminTokenOf(values),
        json: values.json === true });
    },
  },
  {
    name: 'deploy', summary: 'pause or resume a branch\'s deploys, or show whether they wait',
    args: '[status|pause|resume]', positionals: 1,
    options: {
      ...ADMIN_OPTIONS,
      message: { type: 'string', value: 'TEXT', help: 'why (shown while paused)' },
      ...BRANCH_OPTIONS,
    },
    async run(values, positionals) {
      const action = actionOf('deploy', positionals, ['status', 'pause', 'resume'] as const);
      const { runDeployCommand } = await import('./cli/deploy.js');
      process.exitCode = await runDeployCommand(action, await branchRequest(values) as Parameters<typeof runDeployCommand>[1]);
    },
  },
  {
    name: 'autorevert', summary: 'show, or switch off and on, automatic reverts of confirmed culprits (admin)',
    args: '[status|off|on]', positionals: 1,
    options: {
      ...ADMIN_OPTIONS,
    },
    async run(values, positionals) {
      const action = actionOf('autorevert', positionals, ['status', 'off', 'on'] as const);
      const { runAutoRevertCommand } = await import('./cli/autorevert.js');
      const adminToken = await adminTokenOf(values);
      process.exitCode = await runAutoRevertCommand(action, { server: str(values.server) ?? process.env.GREENGATE_SERVER, adminToken });
    },
  },
  {
    name: 'flag', summary: 'kill a feature flag (it serves its defaultVariant to everyone) or restore it (admin)',
    args: 'kill|restore KEY', positionals: 2,
    options: {
      ...ADMIN_OPTIONS,
      repo: { type: 'string', value: 'NAME', required: true, help: 'the repository whose flags file defines KEY' },
      message: { type: 'string', value: 'TEXT', help: 'why (recorded in the flag\'s history and the notification)' },
    },
    async run(values, positionals) {
      const action = actionOf('flag', positionals, ['kill', 'restore'] as const);
      const { runFlagCommand } = await import('./cli/flag.js');
      process.exitCode = await runFlagCommand(action, positionals[1], { server: str(values.server) ?? process.env.GREENGATE_SERVER,
        repo: str(values.repo), message: str(values.message), adminToken: await adminTokenOf(values) });
    },
  },
  {
    name: 'queue', summary: 'show a branch\'s land queue, or take a change out of it (admin)',
    args: '[status|remove ID]', positionals: 2,
    options: {
      ...ADMIN_OPTIONS,
      ...BRANCH_OPTIONS,
    },
    details: 'status is public (no token needed); remove needs the admin token. See README "Land queue".',
    async run(values, positionals) {
      const action = actionOf('queue', positionals, ['status', 'remove'] as const);
      const { runQueueCommand } = await import('./cli/queue.js');
      process.exitCode = await runQueueCommand(action, positionals[1], { server: str(values.server) ?? process.env.GREENGATE_SERVER,
        repo: str(values.repo), branch: str(values.branch), adminToken: action === 'remove' ? await adminTokenOf(values) : undefined,
        json: values.json === true });
    },
  },
  {
    name: 'backup', summary: 'copy the database to FILE while the server runs (SQLite online backup)',
    args: 'FILE', positionals: 1,
    options: {
      config: { type: 'string', value: 'FILE', help: 'find the database through this configuration (default ./greengate.yml)' },
      data: { type: 'string', value: 'DIR', help: 'the data directory holding greengate.db (instead of --config)' },
    },
    details: 'The copy is checked (it opens, passes SQLite\'s integrity check) and written 0600.',
    async run(values, positionals) {
      if (!positionals[0]) throw new UsageError('backup: name the file to write: greengate backup FILE');
      const { runBackup } = await import('./cli/backup.js');
      await runBackup({ dest: resolve(positionals[0]), config: str(values.config), data: str(values.data) });
    },
  },
  {
    name: 'demo', summary: 'a sample repository, hooks, server and two runners at http://localhost:8010',
    options: {},
    async run() {
      const { runDemo } = await import('./cli/demo.js');
      await runDemo({ port: intOption(process.env.PORT, 'port', 0, 65535) ?? 8010 });
    },
  },
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

/** `--label key=value` flags as a label map; a bad one or a key given twice is a usage error. */
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
