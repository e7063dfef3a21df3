/**
 * Speculative testing of a branch's land queue (issue 26; Zuul's dependent pipeline): the first
 * `window` queued changes are each built as a candidate = the branch head + every change ahead +
 * itself (queue/candidate.ts), all at once, as try builds on refs/try/queue/<id>-<n> (never the
 * tree, culprit search or deploys). The window starts at WINDOW_START, grows by one after each
 * landing and halves after a failure (never below WINDOW_FLOOR).
 *
 * One pass of a branch (`kick`, serialized per branch; called when a change is queued or removed, a
 * candidate build ends, and every TICK_MS for the tree reopening and start-up):
 * 1. the front: the first change whose candidate passed (every builder's build passed or flaky —
 *    a failing test is retried once by the build itself, the flaky rule) lands while the tree is
 *    open (queue/landing.ts; a closed tree makes the queue wait, it never opens or closes it) — or,
 *    for a change that jumped the queue as a revert or fix of the red build (queue/jump.ts, first in
 *    line), while the tree is still closed for that very build;
 *    a change whose candidate failed while every change ahead of it passed is ejected with the
 *    failing tests named; one whose candidate is already on the branch (a restart after the
 *    update-ref) is only marked landed.
 * 2. the plan: walking the queue from the head, a candidate stays valid only while it sits on
 *    exactly the head or the valid candidate ahead (candidate_base); any other (a change ahead was
 *    ejected, removed or conflicted, or someone pushed to the branch) has its unfinished builds
 *    cancelled and is made again. A change that no longer applies is ejected as conflict, naming
 *    the files; one whose candidate the gate would refuse for its flags file (flags/pushCheck.ts) is ejected
 *    with those lines before it is built. While the runners are the limit, changes are tested in
 *    batches, only each batch's last candidate built, and a failed batch split (queue/batch.ts).
 * All state is in SQLite (store/landQueue.ts) but the window, which starts again at WINDOW_START.
 * The refs of changes that left the queue, and of superseded candidates, are deleted after each pass (queue/refs.ts).
 */
import type { Logger } from 'pino';
import type { Config, RepositoryConfig } from '../config/config.js';
import { repositoryNamed } from '../config/repositories.js';
import type { Store } from '../store/index.js';
import type { QueueChangeRow } from '../store/landQueue.js';
import { candidateRef, gitRun, makeCandidate } from './candidate.js';
import { ESTIMATE_SAMPLES, medianMs } from './estimate.js';
import { batchSize, breakRate, BREAK_SAMPLES, isBuilt } from './batch.js';
import { alreadyLanded, headOf, land, type LandingDeps } from './landing.js';
import { QueueRefs } from './refs.js';

export const WINDOW_START = 3;
export const WINDOW_FLOOR = 3;
export const FINISHED_SHOWN = 50; // finished changes the status lists after the active ones
export const TICK_MS = 1_000; // 1 second: a pass of every branch with queued changes (the tree reopened, start-up)
const FAILING_NAMED = 10; // failing tests named in an ejection's reason

/** The next window: +1 after a landing, halved (floor WINDOW_FLOOR) after a failure. */
export function nextWindow(window: number, outcome: 'landed' | 'failed'): number {
  return outcome === 'landed' ? window + 1 : Math.max(WINDOW_FLOOR, Math.floor(window / 2));
}

export interface SpeculationDeps extends LandingDeps {
  store: Pick<Store, 'landQueue' | 'tests' | 'tx'>;
  config: Pick<Config, 'repositories'>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  treeOpen(repo: string, branch: string): boolean;
  /** The red build the branch's tree is closed for (null: open, maintenance, or closed by hand): a jumping change judged against it lands through the closure. */
  closedFor?(repo: string, branch: string): number | null;
  /** Builds a candidate ref at its new sha (changes/refs.ts notice: every builder's try build). */
  startBuilds(repo: string, update: { old: string; new: string; ref: string }): Promise<unknown>;
  cancelBuild(id: number): boolean;
  /** What the pre-receive gate would refuse in a candidate besides the tree (its flags file): refusal lines, none when fine. */
  refusal?(repo: RepositoryConfig, branch: string, sha: string): Promise<string[]>;
  /** The runners are the limit: candidate builds wait for one (queue/batch.ts: only then are changes tested in batches). */
  saturated?(repo: string): boolean;
  /** A change left the queue without landing (ejected, conflict): tell its pusher. */
  ended?(change: QueueChangeRow, state: 'ejected' | 'conflict', reason: string): void;
}

type Verdict = { kind: 'untested' } | { kind: 'running' } | { kind: 'passed' } | { kind: 'failed'; reason: string };

export class Speculation {
  private readonly windows = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private readonly refs: QueueRefs; // deleted after each pass once their change left (queue/refs.ts)
  constructor(private readonly deps: SpeculationDeps) {
    this.refs = new QueueRefs((id) => deps.store.landQueue.byId(id), deps.log);
  }

  window(repo: string, branch: string): number {
    return this.windows.get(`${repo}\0${branch}`) ?? WINDOW_START;
  }

  /** Passes every branch with work now and every TICK_MS. */
  start(): void {
    this.tick();
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.running.values()]);
  }
  private tick(): void {
    for (const b of this.deps.store.landQueue.branchesWithWork()) this.kick(b.repo, b.branch);
  }

  /** Something changed in the branch's queue: a pass now, or right after the one running. Resolves when no pass is due. */
  kick(repo: string, branch: string): Promise<void> {
    const key = `${repo}\0${branch}`;
    const busy = this.running.get(key);
    if (busy) {
      this.again.add(key);
      return busy;
    }
    const run = (async () => {
      do {
        this.again.delete(key);
        try {
          await this.pass(repo, branch);
        } catch (err) {
          this.deps.log.error({ err: (err as Error).message, repo, branch }, 'land queue pass failed; tried again on the next');
        }
        const rc = repositoryNamed(this.deps.config, repo);
        if (rc) await this.refs.tidy(rc.path, repo, branch);
      } while (this.again.has(key));
      this.running.delete(key);
    })();
    this.running.set(key, run);
    return run;
  }

  /** A finished build: its branch's queue is passed when it was a candidate's. */
  buildFinished(build: { id: number; repo: string; ref: string }): void {
    const c = build.ref.startsWith('refs/try/queue/') ? this.deps.store.landQueue.byBuild(build.id) ?? this.changeOfRef(build.ref) : undefined;
    if (c) void this.kick(c.repo, c.branch);
  }
  private changeOfRef(ref: string): QueueChangeRow | undefined {
    const id = Number(/^refs\/try\/queue\/(\d+)-/.exec(ref)?.[1]);
    return Number.isSafeInteger(id) ? this.deps.store.landQueue.byId(id) : undefined;
  }

  /** The active changes in queue order, then the newest finished ones; the batch size (queue/batch.ts); T, a candidate's median duration (queue/estimate.ts). */
  status(repo: string, branch: string): { window: number; batch: number; changes: QueueChangeRow[]; buildMs: number | null } {
    const active = this.deps.store.landQueue.active(repo, branch);
    const finished = this.deps.store.landQueue.recent(repo, branch, FINISHED_SHOWN + active.length).filter((c) => c.state !== 'queued' && c.state !== 'testing');
    const window = this.window(repo, branch);
    return { window, batch: this.batching(repo, branch, active.length) ? batchSize(breakRate(finished.slice(0, BREAK_SAMPLES))) : 1,
      changes: [...active, ...finished.slice(0, FINISHED_SHOWN)], buildMs: medianMs(this.deps.store.landQueue.candidateBuildMs(repo, ESTIMATE_SAMPLES)) };
  }

  /** Batches only with more changes waiting than the window and the runners the limit (queue/batch.ts). */
  private batching(repo: string, branch: string, active: number): boolean {
    return active > this.window(repo, branch) && (this.deps.saturated?.(repo) ?? false);
  }

  /** An admin takes a change out of the queue. */
  remove(repo: string, id: number, actor: string): boolean {
    const c = this.deps.store.landQueue.byId(id);
    if (!c || c.repo !== repo) return false;
    if (!this.deps.store.landQueue.end(id, 'removed', `removed by ${actor}`, this.deps.now())) return false;
    this.cancelCandidate(c);
    this.refs.forget(c);
    void this.kick(c.repo, c.branch);
    return true;
  }

  private async pass(repo: string, branch: string): Promise<void> {
    const rc = repositoryNamed(this.deps.config, repo);
    if (!rc || !rc.land?.[branch]) return;
    const q = this.deps.store.landQueue;
    let head = await headOf(rc.path, branch);
    // 1. The front: land what passed (with the untested changes of its batch ahead of it), eject what failed
    //    with everything ahead passed, split a failed batch (queue/batch.ts).
    for (let moved = true; moved;) {
      moved = false;
      let prev = head;
      let lastPassed = -1; // the last change ahead whose candidate passed
      let waiting = false; // a change ahead is still being built
      const active = q.active(repo, branch);
      for (const [i, c] of active.entries()) {
        if (c.state !== 'testing') break;
        // On the branch already (a restart between the update-ref and the row): only when the head moved off its base.
        if (i === 0 && c.candidateBase !== head && await alreadyLanded(rc.path, c, head)) {
          if (this.deps.store.landQueue.land(c.id, c.candidateSha!, this.deps.now())) this.grow(repo, branch);
          this.refs.forget(c);
          this.deps.log.info({ repo, branch, change: c.id }, 'queued change found on the branch: marked landed');
          moved = true;
          break;
        }
        if (c.candidateBase !== prev) break; // out of date: made again below
        const verdict = this.verdict(c);
        if (verdict.kind === 'passed' && !waiting && this.mayLand(active.slice(0, i + 1))) {
          if (await land(this.deps, rc.path, c, head, active.slice(0, i)) === 'landed') {
            this.grow(repo, branch);
            for (const landed of active.slice(0, i + 1)) this.refs.forget(landed);
            this.deps.log.info({ repo, branch, change: c.id, with: active.slice(0, i).map((a) => a.id), sha: c.candidateSha }, 'queued change landed');
            head = c.candidateSha!;
          } else {
            head = await headOf(rc.path, branch);
          }
          moved = true;
          break;
        }
        if (verdict.kind === 'failed' && !waiting) {
          if (lastPassed === i - 1) { // everything ahead passed: this change is the culprit
            this.end(c, 'ejected', verdict.reason);
            this.windows.set(`${repo}\0${branch}`, nextWindow(this.window(repo, branch), 'failed'));
            moved = true;
          } else { // a failed batch: the culprit is one of lastPassed+1..i; its untested candidates are all built at once
            const split = active.slice(lastPassed + 1, i);
            this.deps.log.info({ repo, branch, failed: c.id, split: split.map((s) => s.id) }, 'queued batch failed: building each of its candidates');
            for (const s of split) await this.build(s);
          }
          break;
        }
        if (verdict.kind === 'passed') lastPassed = i;
        if (verdict.kind === 'running' || verdict.kind === 'failed') waiting = true;
        prev = c.candidateSha!;
      }
    }
    // 2. The plan: candidates for the first `window` batches of changes, each on exactly the one ahead;
    //    only each batch's last candidate is built (every one while there are no batches).
    let prev = head;
    const window = this.window(repo, branch);
    const active = q.active(repo, branch);
    const size = this.batching(repo, branch, active.length) ? batchSize(breakRate(q.recent(repo, branch, BREAK_SAMPLES + active.length))) : 1;
    const planned = Math.min(active.length, window * size);
    // A failed candidate is being bisected or ejected (step 1): every candidate behind it holds the culprit, so none is built meanwhile.
    let failing = false;
    for (let k = 0, base = head; k < active.length && active[k].state === 'testing' && active[k].candidateBase === base && !failing; base = active[k++].candidateSha!) {
      failing = this.verdict(active[k]).kind === 'failed';
    }
    let i = 0;
    for (const c of active) {
      if (i >= planned) break;
      if (c.state === 'testing' && c.candidateBase === prev && c.candidateSha) {
        if (c.candidateBuildId === null) {
          const first = q.candidateBuilds(repo, c.candidateRef!, c.candidateSha)[0];
          if (first) q.setCandidateBuild(c.id, first.id);
          else if (!failing && isBuilt(i, size, planned)) await this.build(c); // a batch's last, or a restart before its builds were made
        }
        prev = c.candidateSha;
        i++;
        continue;
      }
      if (c.state === 'testing') this.cancelCandidate(c);
      const made = await makeCandidate(rc.path, prev, c).catch((err: Error) => ({ conflict: [] as string[], error: err.message }));
      if ('error' in made) {
        this.end(c, 'conflict', `could not be put on ${prev.slice(0, 10)}: ${made.error}`);
        continue;
      }
      if ('conflict' in made) {
        const files = made.conflict.slice(0, 20).join(', ') || 'unknown files';
        this.end(c, 'conflict', `does not apply on ${prev.slice(0, 10)} (the branch head and the changes ahead): conflicts in ${files}; rebase it and push it again`);
        continue;
      }
      const refused = await this.deps.refusal?.(rc, branch, made.sha) ?? [];
      if (refused.length) {
        this.end(c, 'ejected', `its candidate ${made.sha.slice(0, 10)} would be refused by the gate: ${refused.map((l) => l.replace(/^greengate:\s*/, '')).join(' ').slice(0, 1000)}`);
        continue;
      }
      const ref = candidateRef(c.id, `${Date.now().toString(36)}${(this.attempts++ % 36).toString(36)}`);
      await gitRun(rc.path, ['update-ref', ref, made.sha]);
      if (!q.testing(c.id, { sha: made.sha, ref, base: prev, buildId: null }, this.deps.now())) {
        await gitRun(rc.path, ['update-ref', '-d', ref], [0, 1]);
        continue;
      }
      if (c.candidateRef && c.candidateRef !== ref) this.refs.leave(c, [c.candidateRef]); // the superseded attempt's
      const built = !failing && isBuilt(i, size, planned);
      if (built) await this.build({ ...c, candidateRef: ref, candidateSha: made.sha });
      prev = made.sha;
      i++;
      if (built && this.again.has(`${repo}\0${branch}`)) return; // a build ended meanwhile: land first, plan the rest on the next pass
    }
  }

  /** The tree lets the front changes land: open, or closed for the very red build every one of them (jumping) reverts or fixes. */
  private mayLand(changes: readonly QueueChangeRow[]): boolean {
    const { repo, branch } = changes[0];
    if (this.deps.treeOpen(repo, branch)) return true;
    const closedFor = this.deps.closedFor?.(repo, branch) ?? null;
    return closedFor !== null && changes.every((c) => c.jump !== null && c.jumpBuild === closedFor);
  }

  /** Starts every builder's build of a change's candidate (on its ref, made already). */
  private async build(c: QueueChangeRow): Promise<void> {
    await this.deps.startBuilds(c.repo, { old: '0'.repeat(40), new: c.candidateSha!, ref: c.candidateRef! });
    const first = this.deps.store.landQueue.candidateBuilds(c.repo, c.candidateRef!, c.candidateSha!)[0];
    if (first) this.deps.store.landQueue.setCandidateBuild(c.id, first.id);
  }

  /** What a candidate's builds say: untested without any (inside a batch), running until every builder's build of it has ended. */
  private verdict(c: QueueChangeRow): Verdict {
    const builds = this.deps.store.landQueue.candidateBuilds(c.repo, c.candidateRef!, c.candidateSha!);
    if (builds.length === 0) return { kind: 'untested' };
    if (builds.some((b) => b.state !== 'done')) return { kind: 'running' };
    const bad = builds.filter((b) => b.result !== 'passed' && b.result !== 'flaky');
    if (bad.length === 0) return { kind: 'passed' };
    const failing = bad.flatMap((b) => this.deps.store.tests.failingByBuild(b.id).map((t) => (t.classname ? `${t.classname} ${t.name}` : t.name)));
    const tests = failing.length ? `failing tests: ${failing.slice(0, FAILING_NAMED).join('; ')}${failing.length > FAILING_NAMED ? ` and ${failing.length - FAILING_NAMED} more` : ''}`
      : bad.map((b) => `build ${b.id} ${b.result}`).join(', ');
    return { kind: 'failed', reason: `its candidate ${c.candidateSha!.slice(0, 10)} failed (builds ${bad.map((b) => b.id).join(', ')}): ${tests}` };
  }

  private grow(repo: string, branch: string): void {
    this.windows.set(`${repo}\0${branch}`, nextWindow(this.window(repo, branch), 'landed'));
  }

  private end(c: QueueChangeRow, state: 'ejected' | 'conflict', reason: string): void {
    const ended = this.deps.store.tx(() => {
      if (!this.deps.store.landQueue.end(c.id, state, reason, this.deps.now())) return false;
      this.deps.ended?.(c, state, reason); // its notification, in the same transaction
      return true;
    });
    if (!ended) return;
    this.cancelCandidate(c);
    this.refs.forget(c);
    this.deps.log.info({ repo: c.repo, branch: c.branch, change: c.id, state, reason }, 'queued change left the queue');
  }

  /** Cancels the unfinished builds of a change's candidate (it is out of date or the change left). */
  private cancelCandidate(c: QueueChangeRow): void {
    if (!c.candidateRef || !c.candidateSha) return;
    for (const b of this.deps.store.landQueue.candidateBuilds(c.repo, c.candidateRef, c.candidateSha)) if (b.state !== 'done') this.deps.cancelBuild(b.id);
  }
}
