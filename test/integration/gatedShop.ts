/**
 * The commit gate's world for integration tests: in HOME, a bare repository "shop" gated on main
 * with the hooks installed, a real `greengate serve` and a real runner r1 with two slots. The one
 * builder runs check.sh; CHECK, committed as check.sh, fails while the file "broken" exists.
 */
import type { ChildProcess } from 'node:child_process';
import { installHooks } from '../../server/gate/hookInstall.js';
import { Repo, ServerProcess, connectRunner, writeConfig } from '../helpers.js';

// check.sh decides the build: it fails while the file "broken" exists in the commit.
export const CHECK = 'if [ -f broken ]; then echo "cart total is wrong" >&2; exit 1; fi; echo ok\n';

/** Starts it all; `gated` is what the hooks are told is gated (absent: they ask the server). */
export async function startGatedShop(home: string, hooks: { gated?: string[] } = {}): Promise<{ repo: Repo; server: ServerProcess; runner: ChildProcess }> {
  const repo = new Repo(home);
  const config = writeConfig(home, [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'sh ./check.sh' }] }]);
  const server = await new ServerProcess(config).start();
  installHooks(repo.bare, { server: server.url, repo: 'shop', ...hooks });
  const runner = await connectRunner(server, 'r1', home, { slots: 2 });
  return { repo, server, runner };
}
