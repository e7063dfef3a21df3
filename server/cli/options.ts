/**
 * What the `greengate` commands share: reading parsed option values, the admin commands' options
 * (server, admin token, branch), their token and action. cli.ts assembles the command table.
 */
import { UsageError, type CommandSpec, type Values } from './usage.js';

export const str = (v: string | boolean | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
export const list = (v: string | boolean | string[] | undefined): string[] => (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []);

/** The options of every admin command: the server and the admin token (from a file or the environment). */
export const ADMIN_OPTIONS: CommandSpec['options'] = {
  server: { type: 'string', value: 'URL', required: true, help: 'the server\'s http://HOST:PORT (or GREENGATE_SERVER)' },
  'admin-token-file': { type: 'string', value: 'FILE', help: 'a file holding the admin token (or GREENGATE_ADMIN_TOKEN)' },
  'admin-token': { type: 'string', hidden: true, help: 'the admin token on the command line' },
};
/** Which gated branch an admin command is about, and how it answers. */
export const BRANCH_OPTIONS: CommandSpec['options'] = {
  repo: { type: 'string', value: 'NAME', help: 'the repository (default: the only one)' },
  branch: { type: 'string', value: 'B', help: 'the branch (default: the repository\'s first gated branch)' },
  json: { type: 'boolean', help: 'print the answer as JSON' },
};

/** The admin token: --admin-token-file, else GREENGATE_ADMIN_TOKEN, else --admin-token (with a warning). */
export async function adminTokenOf(values: Values): Promise<string | undefined> {
  const { chooseToken } = await import('./tokenFile.js');
  return chooseToken({ file: str(values['admin-token-file']), fileFlag: '--admin-token-file',
    env: process.env.GREENGATE_ADMIN_TOKEN, argv: str(values['admin-token']), argvFlag: '--admin-token' });
}
export const say = (text: string) => process.stdout.write(text);

/** An admin command's action: its first argument, one of `actions` (the first is the default), or a UsageError naming them. */
export function actionOf<A extends string>(command: string, positionals: readonly string[], actions: readonly A[]): A {
  const action = positionals[0] ?? actions[0];
  if (!(actions as readonly string[]).includes(action)) {
    throw new UsageError(`${command}: unknown action "${action}": use ${actions.slice(0, -1).join(', ')} or ${actions.at(-1)}`);
  }
  return action as A;
}

/** What an admin command about one gated branch sends (ADMIN_OPTIONS, BRANCH_OPTIONS and --message). */
export async function branchRequest(values: Values) {
  return { server: str(values.server) ?? process.env.GREENGATE_SERVER, message: str(values.message), repo: str(values.repo),
    branch: str(values.branch), adminToken: await adminTokenOf(values), json: values.json === true };
}
