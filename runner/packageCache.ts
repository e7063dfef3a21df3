/**
 * A runner's package-manager cache per repository: where npm, yarn and pnpm keep what they
 * download, kept between builds so a setup that misses the workspace cache installs from disk
 * like a developer's laptop (its ~/.npm), not from the registry each time (the sandbox's home is
 * an empty tmpfs). In `<work dir>/<repository>/packages`, given to the unit's commands through
 * `npm_config_cache`, `YARN_CACHE_FOLDER` and `npm_config_store_dir` and, in the sandbox,
 * bound writable (runner/sandbox.ts SandboxPlace.packageCache).
 *
 * Trust: one repository's builds share it, never two repositories' — the same boundary as its
 * slots' workspaces and workspace cache, which its builds already share. A builder's `env:`,
 * `vars` or a build's params naming these variables override them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's package cache folder under the runner's work dir (made when missing). */
export function packageCacheDir(workDir: string, repoFolder: string): string {
  const dir = join(workDir, repoFolder, 'packages');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

/** The variables pointing npm, yarn (1) and pnpm at it. */
export function packageCacheEnv(dir: string): Record<string, string> {
  return { npm_config_cache: join(dir, 'npm'), YARN_CACHE_FOLDER: join(dir, 'yarn'), npm_config_store_dir: join(dir, 'pnpm') };
}
