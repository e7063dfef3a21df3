/**
 * The flag sets served, one per repository with `flags:` in greengate.yml: its flags file (config
 * key flags.file) read with git at the head of the repository's first gated branch and checked
 * (definitions.ts). Loaded at start-up (`start`) and again whenever RefChanges records that branch
 * at a new head (`refSeen`, wired in server/pipeline.ts: the post-receive notice, the ref watcher or
 * a scan), so a pushed definition is served as soon as the push is recorded. Loads of one repository
 * run one at a time, in order. A file that is missing or invalid at the head (pushed while the gate
 * could not check it) keeps the last good set served and is logged; with none, nothing is served.
 * A shaper (`shapeWith`, flags/rollouts.ts) rewrites the file's definition before it is served — a
 * guarded rollout's current weights — and `reshape` applies it again when a rollout moves.
 * Each new head loaded is also searched for flag hygiene (hygiene.ts), after it is served.
 */
import type { Logger } from 'pino';
import type { Config, RepositoryConfig } from '../config/config.js';
import { git, isSha } from '../git.js';
import { checkFlagsFile, type FlagSetDefinition } from './definitions.js';
import { FlagSet } from './evaluator.js';
import { checkHygiene, type Hygiene } from './hygiene.js';

export interface LoadedFlags { set: FlagSet | null; sha: string | null; problem: string | null; loadedAt: number }
/** Rewrites a repository's definition before it is served; `problems` are shown, the definition served. */
export type Shaper = (repo: string, def: FlagSetDefinition) => { definition: FlagSetDefinition; problems: string[] };

export class FlagLibrary {
  private readonly loaded = new Map<string, LoadedFlags>();
  private readonly chains = new Map<string, Promise<unknown>>();
  /** The file's own definitions (before the shaper), by repository. */
  private readonly files = new Map<string, { def: FlagSetDefinition; sha: string }>();
  private shaper: Shaper = (_repo, definition) => ({ definition, problems: [] });
  /** The shaper's problems per repository (e.g. a rollout of a flag the file does not define). */
  readonly shapeProblems = new Map<string, string[]>();
  /** Flag hygiene of the newest head loaded (hygiene.ts), per repository. */
  readonly hygiene = new Map<string, Hygiene>();

  constructor(private readonly config: Readonly<Config>, private readonly log: Logger) {}

  /** The repositories that serve flags. */
  repositories(): RepositoryConfig[] {
    return this.config.repositories.filter((r) => r.flags && r.gate.length > 0);
  }

  /** What is served for a repository (set null: nothing yet). */
  of(repo: string): LoadedFlags {
    return this.loaded.get(repo) ?? { set: null, sha: null, problem: 'not loaded yet', loadedAt: 0 };
  }

  shapeWith(shaper: Shaper): void {
    this.shaper = shaper;
  }

  /** Serves the repository's last loaded file again through the shaper (a rollout moved). */
  reshape(repo: string): void {
    const f = this.files.get(repo);
    if (f) this.serve(repo, f.def, f.sha);
  }

  /** The file's definition as pushed (before any rollout's weights), or null. */
  fileDefinition(repo: string): FlagSetDefinition | null {
    return this.files.get(repo)?.def ?? null;
  }

  private serve(repo: string, def: FlagSetDefinition, sha: string): void {
    const shaped = this.shaper(repo, def);
    this.shapeProblems.set(repo, shaped.problems);
    this.loaded.set(repo, { set: new FlagSet(shaped.definition, sha), sha, problem: null, loadedAt: Date.now() });
  }

  /** Loads every repository's flags (start-up). */
  async start(): Promise<void> {
    await Promise.all(this.repositories().map((r) => this.reload(r.name)));
  }

  /** RefChanges saw `ref` at `sha`: the served branch of a repository with flags → load it there. */
  refSeen(repo: string, ref: string, sha: string): void {
    const r = this.repositories().find((x) => x.name === repo);
    if (!r || ref !== `refs/heads/${r.gate[0]}`) return;
    void this.reload(repo, sha);
  }

  /** Reads the flags file at `sha` (default: the served branch's head now); queued behind earlier loads. */
  reload(repo: string, sha?: string): Promise<void> {
    const next = (this.chains.get(repo) ?? Promise.resolve()).then(() => this.load(repo, sha)).catch((err) => {
      this.log.error({ repo, err: (err as Error).message }, 'could not load feature flags');
    });
    this.chains.set(repo, next);
    return next;
  }

  private async load(repo: string, at?: string): Promise<void> {
    const r = this.repositories().find((x) => x.name === repo);
    if (!r?.flags) return;
    const branch = r.gate[0];
    const sha = at ?? (await git(r.path, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]).catch(() => '')).trim();
    const keep = (problem: string, quiet = false) => {
      const old = this.of(repo);
      this.loaded.set(repo, { set: old.set, sha: old.sha, problem, loadedAt: Date.now() });
      if (quiet) this.log.info({ repo, branch, problem }, 'no feature flags served yet: they load at the first push to the branch');
      else this.log.error({ repo, branch, sha: sha || null, problem }, 'feature flags not reloaded: the last good flags stay served');
    };
    // A new repository (nothing pushed yet) is nothing to alarm anyone with: its first push loads the flags.
    if (!isSha(sha)) return keep(`${branch} has no commit yet`, true);
    const text = await git(r.path, ['cat-file', 'blob', `${sha}:${r.flags.file}`]).catch(() => null);
    if (text === null) return keep(`${r.flags.file} is missing at ${sha.slice(0, 12)} on ${branch}`);
    const checked = checkFlagsFile(text, r.flags.file);
    if (!checked.ok) return keep(checked.problems.join('; '));
    this.files.set(repo, { def: checked.set, sha });
    this.serve(repo, checked.set, sha);
    void checkHygiene(r.path, sha, r.flags.file, Object.keys(checked.set.flags)).then((h) => {
      if (this.files.get(repo)?.sha === sha) this.hygiene.set(repo, h);
    });
    this.log.info({ repo, sha, flags: Object.keys(checked.set.flags).length }, 'feature flags loaded');
  }
}
