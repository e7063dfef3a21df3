/**
 * The tree: is a gated branch open? Which builds decide it, and when it closes or reopens by
 * itself, is the rule in treeRule.ts; this module applies it to SQLite. `applyRule` runs inside the
 * caller's transaction (the build lifecycle's, with the build's result) and returns what changed;
 * the caller tells observers after the commit. `recover` re-applies the rule to every gated branch
 * at start-up, so a closure missed by a crash is made now; applying it twice changes nothing.
 * A manual closure or maintenance stays until a person opens it. Every change and every push let
 * through while not open is recorded. The immune system's closure for a rolled-back deploy names
 * the deploy's commits on its event; `lookup` gives them as `revertable` while that closure stands.
 *
 * The one owner of tree state: every write of tree_state and tree_events goes through here (the
 * culprit revert's history event too: `recordAutoRevert`). Who closed is data (`closed_by`,
 * migrations/022: 'build' | 'person' | 'immune'), never read back from the actor string; a person
 * naming themselves IMMUNE_ACTOR is still a person. Observers get `tree` after the commit
 * (store.afterCommit), the change's writers (server/pipeline.ts `treeChanged`) inside it.
 */
import type { Logger } from 'pino';
import type { Config, RepositoryConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { NewTreeEvent, TreeCloser, TreeStateName, TreeStateRow } from '../store/tree.js';
import type { Events } from '../events.js';
import type { BranchGate, GatePass } from './rules.js';
import { decideTree } from './treeRule.js';
import { isFailure } from '../results/failure.js';
import { GgError } from '../errors.js';
import { findRepository, repositoryNamed } from '../config/repositories.js';
import { PIPELINE_BUILDER } from '../config/pipeline.js';
import { culpritJson, type CulpritJson } from '../culprit/json.js';

export const MAX_NAMED_TESTS = 5;
/** The actor shown for the immune system's closures (a name for people; `closedBy: 'immune'` is what code reads). */
export const IMMUNE_ACTOR = 'greengate-immune';

/** A change of a branch's tree state as it was written (the event row), with the state before it. */
export interface TreeChange extends NewTreeEvent { id: number; repo: string; before: TreeStateRow | null }

export interface TreeJson {
  repo: string; branch: string; state: TreeStateName; automatic: boolean; reason: string | null; message: string | null;
  actor: string | null; since: number | null;
  /** Who closed it: 'build' (a red build, by the rule), 'person', 'immune' (a rolled-back deploy); null while open. */
  closedBy: TreeCloser | null; build: { id: number; url: string; builder: string; result: string | null } | null;
  blamelist: { sha: string; author: string | null; subject: string | null }[];
  /** The red build's culprit search (null when none was made): server/culprit/json.ts. */
  culprit: CulpritJson | null;
}

export class Tree {
  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly events: Events,
    private readonly log: Logger,
    private readonly baseUrl: () => string,
    /**
     * The ordered writers that commit with a tree change (server/pipeline.ts `treeChanged`: the
     * notifications outbox, deploys): called inside the transaction that changes the state, after
     * the change is written. They must not await; what they write rolls back with the change.
     */
    private readonly onChange: (change: TreeChange) => void = () => undefined,
  ) {}

  /** A build ended (inside the transaction that finished it): a branch build applies the tree rule to its branch. */
  buildFinished(build: BuildRow, now = Date.now()): void {
    if (build.kind === 'branch') this.applyRule(build.repo, build.branch, now);
  }

  gated(repo: string, branch: string): boolean {
    return !!this.repo(repo)?.gate.includes(branch);
  }

  /** The state as GET /api/tree/:repo/:branch returns it. An ungated branch is always open. */
  status(repoName: string, branch: string): TreeJson {
    const repo = this.requireRepo(repoName);
    const row = this.state(repo, branch);
    const build = row?.buildId ? this.store.builds.get(row.buildId) : undefined;
    return {
      repo: repo.name, branch, state: row?.state ?? 'open', automatic: !!row?.automatic, reason: row?.reason ?? null,
      message: row?.message ?? null, actor: row?.actor ?? null, since: row?.since ?? null, closedBy: row?.closedBy ?? null,
      build: build ? { id: build.id, url: this.buildUrl(build.id), builder: build.builder, result: build.result } : null,
      blamelist: build && row?.state !== 'open'
        ? this.store.builds.blamelist(build.id).map((c) => ({ sha: c.sha, author: c.author, subject: c.subject })) : [],
      culprit: build && row?.state !== 'open' ? culpritJson(this.store, build.id) : null,
    };
  }

  /** A person opens, closes or puts the branch under maintenance. */
  set(repoName: string, branch: string, state: TreeStateName, message: string | null, actor: string): TreeJson {
    return this.write(repoName, branch, state, message, actor, 'person');
  }

  /**
   * The immune system closes the branch for a rolled-back deploy (inside the orchestrator's
   * transaction), with its `reason` and the deploy's `commits`: while that closure stands, a push
   * whose every new commit reverts one of them passes the gate — lookup's `revertable`.
   */
  closeForRollback(repoName: string, branch: string, message: string, reason: string, commits: readonly string[]): TreeJson {
    return this.write(repoName, branch, 'closed', message, IMMUNE_ACTOR, 'immune', reason, commits);
  }

  private write(repoName: string, branch: string, state: TreeStateName, message: string | null, actor: string, by: TreeCloser,
    reason?: string, commits?: readonly string[]): TreeJson {
    const repo = this.requireRepo(repoName);
    if (!repo.gate.includes(branch)) {
      throw new GgError('GG_NOT_GATED', `${repo.name}/${branch} is not gated: add it to gate: in greengate.yml`);
    }
    if (state !== 'open' && !message?.trim()) {
      throw new GgError('GG_MESSAGE_REQUIRED', `closing the tree needs a message saying why (--message "…")`);
    }
    const row = this.rowId(repo.name);
    this.store.tx(() => { // inside a caller's transaction (the immune system's rollback) this is part of it
      const before = this.state(repo, branch);
      const event = { repoId: row, branch, kind: state === 'open' ? 'open' : state === 'closed' ? 'close' : 'maintenance',
        state, automatic: false, actor, reason: reason ?? (state === 'open' ? 'opened by hand' : 'closed by hand'), message: message?.trim() || null,
        buildId: null, commits: state === 'closed' && commits?.length ? [...commits] : null, at: Date.now(),
        closedBy: state === 'open' ? null : by } as const;
      const eventId = this.store.tree.change(event);
      this.changed({ ...event, id: eventId, repo: repo.name, before: before ?? null });
      this.store.afterCommit(() => this.log.info({ repo: repo.name, branch, state, actor, closedBy: event.closedBy }, 'tree changed'));
    });
    return this.status(repo.name, branch);
  }

  /** What the gate needs to know about one branch of a repository. */
  lookup(repoName: string): (branch: string) => BranchGate {
    const repo = this.requireRepo(repoName);
    return (branch) => {
      if (!repo.gate.includes(branch)) {
        return { gated: false, state: 'open', reason: null, message: null, since: null, build: null };
      }
      const row = this.state(repo, branch);
      const build = row?.buildId ? this.store.builds.get(row.buildId) : undefined;
      const revertable = row?.state === 'closed' && row.closedBy === 'immune' ? this.store.tree.stateCommits(this.rowId(repo.name), branch) : [];
      return {
        gated: true, state: row?.state ?? 'open', reason: row?.reason ?? null, message: row?.message ?? null, since: row?.since ?? null,
        build: build ? { id: build.id, url: this.buildUrl(build.id), blamelist: this.redBlamelist(build, branch) } : null,
        revertable,
      };
    };
  }

  /**
   * The commits a revert may name to pass the closed tree: the red build's blamelist first, then
   * those of every other build of the branch still red (a fix attempt that went red does not hide
   * the original culprit).
   */
  private redBlamelist(build: BuildRow, branch: string): string[] {
    const shas = new Set(this.store.builds.blamelist(build.id).map((c) => c.sha));
    for (const id of this.store.builds.stillRed(build.repoId, branch)) {
      for (const c of this.store.builds.blamelist(id)) shas.add(c.sha);
    }
    return [...shas];
  }

  /** Records the pushes the gate let through a tree that was not open. */
  recordPasses(repoName: string, passes: readonly GatePass[], pusher: string | null): void {
    const repo = this.requireRepo(repoName);
    const repoId = this.rowId(repo.name);
    for (const p of passes) {
      const row = this.state(repo, p.branch);
      this.store.tree.record({ repoId, branch: p.branch, kind: p.kind, state: row?.state ?? 'open', automatic: false, actor: pusher,
        reason: p.reason, message: null, buildId: row?.buildId ?? null, commits: p.commits, at: Date.now(), closedBy: null });
      this.log.info({ repo: repo.name, branch: p.branch, kind: p.kind, pusher, commits: p.commits.length }, 'push let through a closed tree');
    }
    if (passes.length) this.told(repo.name, passes[0].branch);
  }

  /**
   * greengate's automatic revert of a culprit was pushed (culprit/revert.ts, inside its transaction):
   * a history event of kind 'auto-revert', the state unchanged (the revert's own build reopens the tree by the rule).
   */
  recordAutoRevert(repoId: number, branch: string, e: { actor: string; reason: string; buildId: number; revertSha: string; at: number }): void {
    const row = this.store.tree.get(repoId, branch);
    this.store.tree.record({ repoId, branch, kind: 'auto-revert', state: row?.state ?? 'open', automatic: true,
      actor: e.actor, reason: e.reason, message: null, buildId: e.buildId, commits: [e.revertSha], at: e.at, closedBy: null });
    const repo = this.store.repos.byId(repoId);
    if (repo) this.told(repo.name, branch);
  }

  /**
   * Applies the tree rule to one branch, inside the caller's transaction. Returns the branch when
   * its state changed (`tree` is emitted after the commit), else null.
   */
  applyRule(repoName: string, branch: string, now = Date.now()): { repo: string; branch: string } | null {
    const repo = this.repo(repoName);
    if (!repo || !repo.gate.includes(branch)) return null;
    const repoId = this.rowId(repo.name);
    const row = this.state(repo, branch);
    // A pipeline file's builders: those of the branch's newest pushed commit (changes/intake.ts); else greengate.yml's.
    const names = repo.pipeline ? this.store.builds.buildersAt(repoId, branch, PIPELINE_BUILDER) : repo.builders.map((b) => b.name);
    const action = decideTree(row, names.map((name) => this.store.builds.deciding(repoId, name, branch)));
    let event: NewTreeEvent;
    if (action.kind === 'close') {
      const b = action.build;
      event = { repoId, branch, kind: 'close', state: 'closed', automatic: true, actor: null,
        reason: `build ${b.id} (${b.builder}) failed`, message: this.closureMessage(b), buildId: b.id, commits: null, at: now, closedBy: 'build' };
    } else if (action.kind === 'open') {
      const b = action.build;
      event = { repoId, branch, kind: 'open', state: 'open', automatic: true, actor: null,
        reason: b ? `build ${b.id} (${b.builder}) ${b.result}: every builder is green` : 'no builder is red any more',
        message: null, buildId: b?.id ?? null, commits: null, at: now, closedBy: null };
    } else {
      return null;
    }
    const id = this.store.tree.change(event);
    this.changed({ ...event, id, repo: repo.name, before: row ?? null });
    this.log.info({ repo: repo.name, branch, action: action.kind, build: action.build?.id }, 'tree changed by a build');
    return { repo: repo.name, branch };
  }

  /** Start-up: the rule applied to every gated branch (idempotent). Runs inside the caller's transaction (a tx of its own outside one). */
  recover(now = Date.now()): { repo: string; branch: string }[] {
    const changed: { repo: string; branch: string }[] = [];
    for (const repo of this.config.repositories) {
      for (const branch of repo.gate) {
        const c = this.applyRule(repo.name, branch, now);
        if (c) changed.push(c);
      }
    }
    return changed;
  }

  /** Every change of state: its writers in this transaction, then `tree` told after the commit. */
  private changed(change: TreeChange): void {
    this.onChange(change);
    this.told(change.repo, change.branch);
  }

  /** Observers learn of a change of the branch's tree (state or history) once it is committed. */
  private told(repo: string, branch: string): void {
    this.store.afterCommit(() => this.events.emit('tree', { repo, branch }));
  }

  private closureMessage(b: BuildRow): string {
    const failing = this.store.tests.finalByBuild(b.id).filter(isFailure);
    const names = failing.slice(0, MAX_NAMED_TESTS).map((t) => t.classname ? `${t.classname} > ${t.name}` : t.name);
    const more = failing.length > MAX_NAMED_TESTS ? ` and ${failing.length - MAX_NAMED_TESTS} more` : '';
    const blame = this.store.builds.blamelist(b.id).map((c) => `${c.sha.slice(0, 10)} ${c.author ?? '?'}: ${c.subject ?? ''}`);
    return [
      `${b.builder} build ${b.id} failed at ${b.sha.slice(0, 10)}${b.reason ? ` (${b.reason})` : ''}`,
      names.length ? `failing tests: ${names.join(', ')}${more}` : null,
      blame.length ? `blamelist: ${blame.join('; ')}` : null,
    ].filter(Boolean).join('\n');
  }

  private state(repo: RepositoryConfig, branch: string): TreeStateRow | undefined {
    return this.store.tree.get(this.rowId(repo.name), branch);
  }

  private repo(name: string): RepositoryConfig | undefined {
    return repositoryNamed(this.config, name);
  }

  private requireRepo(name: string): RepositoryConfig {
    return findRepository(this.config, name);
  }

  private rowId(name: string): number {
    return this.store.repos.byName(name)!.id;
  }

  private buildUrl(id: number): string {
    return `${this.baseUrl()}/builds/${id}`;
  }
}
