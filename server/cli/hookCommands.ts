/**
 * The `greengate hook …` commands: install the hooks into a bare repository (asking the server
 * first), and git's proc-receive hook for the land queue.
 */
import { resolve } from 'node:path';
import { UsageError, type CommandSpec } from './usage.js';
import { adminTokenOf, say, str } from './options.js';

export const HOOK_INSTALL_COMMAND: CommandSpec = {
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
    const { checkServerUrl, installHooks, repoNameOf, rememberGated } = await import('../gate/hookInstall.js');
    checkServerUrl(server); // a malformed --server is named as such, before it is asked anything
    const gated = str(values.gated)?.split(/[\s,]+/).filter(Boolean);
    const bare = resolve(positionals[0]);
    if (!values['skip-server-check']) {
      const { checkServerKnows } = await import('./hookCheck.js');
      await checkServerKnows(server, repoNameOf(bare, str(values.repo)));
    }
    const r = installHooks(bare, { server, repo: str(values.repo), gated });
    say(`installed ${r.hooks.join(', ')} in ${positionals[0]} for repository "${r.repo}"\n`);
    say(`hook secret: ${r.secretFile} (${r.access})\n`);
    const { registerHookSecret } = await import('./hookRegister.js');
    try {
      say(`${await registerHookSecret(server, r.repo, bare, await adminTokenOf(values))}\n`);
    } catch (err) {
      if (!values['skip-server-check']) throw err;
      process.stderr.write(`greengate hook install: warning: ${(err as Error).message}\n`);
    }
    if (gated) return;
    const { gatedBranchesOf } = await import('./hookGated.js');
    const fromServer = await gatedBranchesOf(server, r.repo);
    if (Array.isArray(fromServer)) {
      rememberGated(bare, fromServer);
      say(`gated branches (from the server): ${fromServer.join(' ') || 'none'}\n`);
    } else {
      say(`note: ${fromServer}; until the hook's first verdict every branch counts as gated when the server is unreachable (or pass --gated "main release")\n`);
    }
  },
};

export const HOOK_PROC_RECEIVE_COMMAND: CommandSpec = {
  name: 'hook proc-receive', summary: 'git\'s proc-receive hook: queue a push to refs/for/BRANCH (run by git, installed by hook install)',
  options: {},
  details: 'Speaks git\'s proc-receive protocol on stdin/stdout in the bare repository; asks the server named by\n' +
    'greengate.server to queue the change (docs/land-queue.md).',
  async run() {
    const { runProcReceive } = await import('./procReceive.js');
    await runProcReceive();
  },
};
