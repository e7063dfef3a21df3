/**
 * The admin commands, each a client of the server's admin API (the admin token from a file or
 * the environment): tree, build, deploy, autorevert, flag, queue.
 */
import { type CommandSpec, type Values } from './usage.js';
import { actionOf, ADMIN_OPTIONS, adminTokenOf, BRANCH_OPTIONS, branchRequest, list, str } from './options.js';

export const ADMIN_COMMANDS: CommandSpec[] = [
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
      const { runTreeCommand } = await import('./tree.js');
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
      const { runBuildCommand } = await import('./build.js');
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
      const { runDeployCommand } = await import('./deploy.js');
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
      const { runAutoRevertCommand } = await import('./autorevert.js');
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
      const { runFlagCommand } = await import('./flag.js');
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
      const { runQueueCommand } = await import('./queue.js');
      process.exitCode = await runQueueCommand(action, positionals[1], { server: str(values.server) ?? process.env.GREENGATE_SERVER,
        repo: str(values.repo), branch: str(values.branch), adminToken: action === 'remove' ? await adminTokenOf(values) : undefined,
        json: values.json === true });
    },
  },
];
