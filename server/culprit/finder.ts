/**
 * Culprit finding: drives the pure search (search.ts) with bisect builds.
 *
 * Lifecycle: `buildFinished` is the first writer of server/pipeline.ts's `buildFinished` list, so it
 * runs inside the transaction that finishes a build (before the tree rule, so the closure's
 * notification names a culprit known at once), and everything it writes commits (or rolls back) with that
 * result: a search started for a red build, a probe's result, the next bisect build (its units
 * included), the search's end and a wanted revert. A crash at any point leaves either all of it or
 * none; a bisect build left running resumes like any build. After the commit (store.afterCommit)
 * the new builds are announced and dispatched, and the reverter is woken.
 *
 * - A red gated branch build whose blamelist is ONE commit on a green base (a new breakage) needs
 *   no bisect: that commit is named at once, suspected (it failed once). Without `autoRevert` on
 *   the branch its search is recorded ended at once: no probe, no notification of its own (the
 *   closure names it and mails its author), no automatic revert (only confirmed culprits are
 *   reverted). With `autoRevert` only the confirmation runs: the search of that one commit keeps
 *   it named while its probes re-run the failing files at it and at its parent (confirmRuns each,
 *   search.ts), then ends like any search — confirmed, it is reverted (revert.ts).
 * - A search starts when a gated branch build fails whose blamelist has more than one commit (and
 *   was not cut at MAX_BLAMELIST) and whose base (the previous commit built) is green on that
 *   builder: a new breakage. It runs only
 *   the failing test files (the builder's whole run when it has no `tests` glob).
 * - Bisect builds are kind 'bisect' (stored as refs/bisect/<search>; their units are told
 *   refs/heads/<branch>, dispatch/queue.ts, so the code under test cannot tell): the tree rule never sees them. One
 *   probe runs at a time. A probe build that ends `exception` or `cancelled` says nothing and is
 *   made again (it counts towards the search's budget); `flaky` counts as a failure and a pass.
 * - The flake rate is what the failing files' history says (flaky runs / runs on that builder),
 *   clamped to [MIN_FLAKE_RATE, MAX_FLAKE_RATE].
 * - `notify(kind, payload, recipients)` is called inside the same transaction (an outbox writes
 *   there; it must not await): culprit.found (to the culprit's author) or culprit.notFound.
 */
import type { Logger } from 'pino';
import type { Config, RepositoryConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { SearchRow } from '../store/culprits.js';
import type { Intake } from '../changes/intake.js';
import { builderOfBuild } from '../config/repositories.js';
import { isFailure } from '../results/failure.js';
import type { CulpritKind, NotificationPayloads } from '../notify/kinds.js';
import { culpritNotice } from './notices.js';
import { unitFiles } from '../store/units.js';
import { MAX_BLAMELIST } from '../git.js';
import { autoRevertsOn, culpritSettings } from '../config/culprit.js';
import { clampRate, decide, defaultMaxProbes, MIN_FLAKE_RATE, observe, startSearch, DEFAULT_CONFIDENCE, type SearchState } from './search.js';

/** A notification for the alerting outbox (issue 15 part 1): its kind, its payload, who to tell (e-mail addresses). */
export type Notify = <K extends CulpritKind>(kind: K, payload: NotificationPayloads[K], recipients: string[]) => void;

export const MIN_FLAKE_HISTORY = 20; // runs of the failing files before their history says more than MIN_FLAKE_RATE

/** What culprit finding is connected to (server/pipeline.ts). */
export interface FinderLinks {
  /** Where its notifications go, inside its transaction: the alerting outbox. */
  notify?: Notify;
  /** Wakes the automatic reverter (after the commit that wanted a revert). */
  revertWanted?: () => void;
}

export class CulpritFinder {
  private readonly notify: Notify;
  private readonly wakeReverter: () => void;
  private created: number[] = [];
  private revertWanted = false;

  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly intake: Intake,
    private readonly log: Logger,
    links: FinderLinks = {},
  ) {
    this.notify = links.notify ?? (() => undefined);
    this.wakeReverter = links.revertWanted ?? (() => undefined);
  }

  /** Inside the transaction that finished `build` (server/pipeline.ts `buildFinished`). */
  buildFinished(build: BuildRow): void {
    if (build.kind === 'bisect') this.probeFinished(build);
    else if (build.kind === 'branch' && build.result === 'failed') this.maybeStart(build);
    const ids = this.created.splice(0);
    const revert = this.revertWanted;
    this.revertWanted = false;
    if (ids.length || revert) this.store.afterCommit(() => this.afterCommit(ids, revert));
  }

  private afterCommit(ids: number[], revert: boolean): void {
    try {
      this.intake.announceQueued(ids);
    } catch (err) {
      this.log.error({ err, builds: ids }, 'could not announce bisect builds');
    }
    if (revert) this.wakeReverter();
  }

  private maybeStart(build: BuildRow): void {
    const repo = this.config.repositories.find((r) => r.name === build.repo);
    const builder = builderOfBuild(this.config, build); // a pipeline file's builder: as at the red commit
    if (!repo || !builder || !repo.gate.includes(build.branch) || !build.baseSha) return;
    if (this.store.culprits.forBuild(build.id)) return;
    const commits = this.store.builds.blamelist(build.id).map((c) => c.sha).reverse(); // oldest first
    if (commits.length < 1 || commits.length >= MAX_BLAMELIST || commits[commits.length - 1] !== build.sha) return; // a cut blamelist has no known base
    if (!this.store.builds.greenAt(build.repoId, build.builder, build.branch, build.baseSha)) return; // not a new breakage
    const files = builder.tests ? this.failingFiles(build) : [];
    const confirmOnly = commits.length === 1 && autoRevertsOn(repo, build.branch) && (!builder.tests || files.length > 0);
    if (commits.length === 1 && !confirmOnly) return this.alone(build, commits[0]);
    if (builder.tests && files.length === 0) return; // nothing to narrow the probes to
    const history = this.store.culprits.flakeHistory(build.repoId, build.builder, files.length ? files : ['']);
    const flakeRate = history.runs >= MIN_FLAKE_HISTORY ? clampRate(history.flaky / history.runs) : MIN_FLAKE_RATE;
    const { confirmRuns } = culpritSettings(repo);
    const state = startSearch(commits.length, true);
    const now = Date.now();
    const id = this.store.culprits.create({ repoId: build.repoId, branch: build.branch, builder: build.builder, buildId: build.id,
      baseSha: build.baseSha, commits, files, flakeRate, confirmRuns, maxProbes: defaultMaxProbes(commits.length, confirmRuns),
      observations: state.obs, createdAt: now });
    if (confirmOnly) this.store.culprits.suspect(id, commits[0]); // known at once; the probes only confirm it
    this.log.info({ build: build.id, search: id, commits: commits.length, files: files.length, flakeRate },
      confirmOnly ? 'culprit named, confirming it before the automatic revert' : 'culprit search started');
    this.advance(this.store.culprits.get(id)!, repo, now);
  }

  /** A new breakage of one commit: that commit is the culprit, suspected, without a bisect build. */
  private alone(build: BuildRow, sha: string): void {
    const now = Date.now();
    const id = this.store.culprits.create({ repoId: build.repoId, branch: build.branch, builder: build.builder, buildId: build.id,
      baseSha: build.baseSha!, commits: [sha], files: [], flakeRate: MIN_FLAKE_RATE, confirmRuns: 0, maxProbes: 0,
      observations: startSearch(1, true).obs, createdAt: now });
    this.store.culprits.finish(id, { culpritSha: sha, confirmed: false, confidence: null,
      outcome: 'the only commit of the red build\'s blamelist, on a green parent: suspected without a bisect build', at: now });
    this.log.info({ build: build.id, search: id, culprit: sha }, 'culprit named: the one commit of a new breakage');
  }

  private probeFinished(build: BuildRow): void {
    const probe = this.store.culprits.probe(build.id);
    if (!probe || !this.store.culprits.recordProbe(build.id, build.result ?? 'exception')) return;
    const search = this.store.culprits.get(probe.searchId);
    const repo = this.config.repositories.find((r) => r.name === build.repo);
    if (!search || search.state !== 'searching') return;
    let state: SearchState = { n: search.commits.length, obs: search.observations, probes: search.probes };
    if (build.result === 'failed' || build.result === 'flaky') state = observe(state, probe.position, true);
    if (build.result === 'passed' || build.result === 'flaky') state = observe(state, probe.position, false);
    const probes = search.probes + 1; // a flaky build is one build with two observations; an exception, one build with none
    this.store.culprits.saveObservations(search.id, state.obs, probes);
    if (!repo) {
      this.finish(search, null, false, null, `${build.repo} is no longer configured`, undefined);
      return;
    }
    this.advance({ ...search, observations: state.obs, probes }, repo, Date.now());
  }

  /** The next step of a search: one more bisect build, or its end. */
  private advance(search: SearchRow, repo: RepositoryConfig, now: number): void {
    const n = search.commits.length;
    const decision = decide({ n, obs: search.observations, probes: search.probes },
      { confirmRuns: search.confirmRuns, flakeRate: search.flakeRate, confidence: DEFAULT_CONFIDENCE, maxProbes: search.maxProbes });
    if (decision.kind === 'done') {
      const sha = decision.culprit === null ? null : search.commits[decision.culprit - 1];
      const outcome = sha === null
        ? (decision.confirmed ? 'no culprit: the failure did not come back at the red commit, or it was there before the blamelist' : 'no culprit found within the budget')
        : decision.confirmed ? `confirmed after ${search.probes} bisect builds` : `suspected (not confirmed) after ${search.probes} bisect builds`;
      this.finish(search, sha, decision.confirmed, decision.confidence, outcome, repo);
      return;
    }
    const red = this.store.builds.get(search.buildId);
    const builder = red ? builderOfBuild(this.config, red) : repo.builders.find((b) => b.name === search.builder); // probes run the red build's builder
    if (!builder) {
      this.finish(search, null, false, null, `builder ${search.builder} is no longer configured`, repo);
      return;
    }
    const sha = decision.position === 0 ? search.baseSha : search.commits[decision.position - 1];
    const id = this.intake.createBisect({ repo, builder, sha, files: search.files, ref: `refs/bisect/${search.id}`, branch: search.branch, at: now,
      redBuildId: search.buildId });
    this.store.culprits.addProbe(id, search.id, decision.position);
    this.created.push(id);
  }

  private finish(search: SearchRow, sha: string | null, confirmed: boolean, confidence: number | null, outcome: string,
    repo: RepositoryConfig | undefined): void {
    const now = Date.now();
    if (!this.store.culprits.finish(search.id, { culpritSha: sha, confirmed, confidence, outcome, at: now })) return;
    this.log.info({ search: search.id, build: search.buildId, culprit: sha, confirmed, confidence }, 'culprit search ended');
    const commit = sha ? this.store.builds.blamelist(search.buildId).find((c) => c.sha === sha) : undefined;
    this.notify(sha ? 'culprit.found' : 'culprit.notFound', culpritNotice({
      repo: search.repo, branch: search.branch, builder: search.builder, build: search.buildId, sha, confirmed, confidence, outcome,
      author: commit?.author ?? null, subject: commit?.subject ?? null, builds: this.store.culprits.probes(search.id).map((p) => p.buildId),
    }), commit?.email ? [commit.email] : []);
    if (sha && confirmed && repo && autoRevertsOn(repo, search.branch)) {
      this.store.culprits.wantRevert({ searchId: search.id, repoId: search.repoId, branch: search.branch, culpritSha: sha, buildId: search.buildId, at: now });
      this.revertWanted = true;
    }
  }

  /** The files of the red build's failing tests; a failing test without a file: its failed units' files. */
  private failingFiles(build: BuildRow): string[] {
    const failing = this.store.tests.finalByBuild(build.id).filter(isFailure).filter((t) => !t.failingBefore);
    const files = new Set(failing.map((t) => t.file).filter((f): f is string => !!f));
    if (failing.length === 0 || failing.some((t) => !t.file)) {
      for (const u of this.store.units.byBuild(build.id)) if (u.result === 'failed') for (const f of unitFiles(u)) files.add(f);
    }
    return [...files].sort();
  }
}
