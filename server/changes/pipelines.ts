/**
 * Where a commit's builders come from: greengate.yml's `builders:`, or, for a repository with
 * `pipeline: FILE`, that file as it is in the commit (config/pipeline.ts parses and checks it).
 *
 * The file is read with the server's git helpers (server/git.ts: time-limited, no shell): `git
 * ls-tree <sha> -- FILE` for its blob, then `git cat-file blob`. Parsed builders, and the problem
 * of an invalid file, are cached by (repository, blob sha, the grants of greengate.yml): a push that does not change the file
 * costs one ls-tree. During pre-receive the push's objects are only in git's quarantine, which the
 * hook names (gate/request.ts); pass it as `quarantine` (already checked with checkedQuarantine).
 *
 * Errors: GG_PIPELINE_INVALID, its message `FILE:LINE:COL: key: what is wrong — fix` (one line
 * per problem) or `pipeline: FILE is not in commit abc1234 — …`; git's own failures as server/git.ts.
 */
import type { BuilderConfig, RepositoryConfig } from '../config/config.js';
import { ConfigError } from '../config/problems.js';
import { parsePipeline } from '../config/pipeline.js';
import { GgError } from '../errors.js';
import { git, isSha } from '../git.js';

export const MAX_PIPELINE_BYTES = 256 * 1024; // a pipeline file larger than this is refused
const MAX_CACHED = 256; // parsed files kept (repository, blob sha)

export class Pipelines {
  private readonly cache = new Map<string, readonly BuilderConfig[] | GgError>();

  /** The builders of `repo` at commit `sha`; GG_PIPELINE_INVALID when its pipeline file is missing or invalid there. */
  async buildersAt(repo: RepositoryConfig, sha: string, quarantine: string | null = null): Promise<readonly BuilderConfig[]> {
    if (!repo.pipeline) return repo.builders;
    if (!isSha(sha)) throw new GgError('GG_BAD_SHA', `not a commit id: ${sha.slice(0, 100)}`);
    const file = repo.pipeline;
    const entry = await git(repo.path, ['ls-tree', '-z', sha, '--', file], quarantine);
    const m = /^\d+ (\w+) ([0-9a-f]{40})\t/.exec(entry);
    if (!m || m[1] !== 'blob') {
      throw new GgError('GG_PIPELINE_INVALID', `pipeline: ${file} is not in commit ${sha.slice(0, 7)}${m ? ' (it is a folder there)' : ''} — ` +
        'add it, or remove `pipeline:` from this repository in greengate.yml');
    }
    const key = `${repo.name}\0${m[2]}\0${JSON.stringify(repo.pipelineGrants ?? {})}`; // a reload that changes the grants parses again
    let found = this.cache.get(key);
    if (found === undefined) {
      found = await this.parse(repo, file, m[2], quarantine);
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, found);
    }
    if (found instanceof GgError) throw found;
    return found;
  }

  /** The message of GG_PIPELINE_INVALID at `sha`, or null when the builders there are fine (or come from greengate.yml). */
  async problemAt(repo: RepositoryConfig, sha: string, quarantine: string | null = null): Promise<string | null> {
    try {
      await this.buildersAt(repo, sha, quarantine);
      return null;
    } catch (err) {
      if (err instanceof GgError && err.code === 'GG_PIPELINE_INVALID') return err.message;
      throw err;
    }
  }

  private async parse(repo: RepositoryConfig, file: string, blob: string, quarantine: string | null): Promise<readonly BuilderConfig[] | GgError> {
    const size = Number((await git(repo.path, ['cat-file', '-s', blob], quarantine)).trim());
    if (size > MAX_PIPELINE_BYTES) {
      return new GgError('GG_PIPELINE_INVALID', `${file} is ${size} bytes, over the ${MAX_PIPELINE_BYTES} a pipeline file may have — make it shorter`);
    }
    const text = await git(repo.path, ['cat-file', 'blob', blob], quarantine);
    try {
      return parsePipeline(text, file, repo.pipelineGrants ?? {});
    } catch (err) {
      if (err instanceof ConfigError) return new GgError('GG_PIPELINE_INVALID', err.message);
      throw err;
    }
  }
}
