/**
 * The guarded automatic revert. A confirmed culprit on a branch with `autoRevert` leaves a
 * 'wanted' row in auto_reverts (written with the search's end, culprit/finder.ts); this module
 * settles each such row once: 'pushed' with the revert's sha, or 'refused' with the guard that
 * said no. One revert is made at a time; `kick()` after a commit that wanted one and at start-up.
 *
 * Guards, in order (each refuses with its reason): the kill switch is on (`greengate autorevert
 * off`); the branch still has autoRevert; the culprit is confirmed; the tree is not under
 * maintenance nor closed by hand, and is still closed with the red build still red (not fixed
 * meanwhile); fewer than `maxPerDay` reverts pushed on the branch in 24 hours (greengate's own,
 * as recorded: a commit someone else pushed never counts, whatever its message);
 * the culprit is not a merge commit; it is not itself a revert (greengate's recorded revert, or an
 * exact revert of the commit its message names, checked with git); it is still on the branch; it
 * was not reverted already (a commit since it whose tree is exactly its revert: exactRevert.ts,
 * never a message); `git revert` applies cleanly.
 *
 * How (server/gitRevert.ts): a private clone (`--shared`) of the bare repository under DATA/reverts/<id>, `git revert`
 * of the culprit on top of the branch head, authored and committed by greengate, the message
 * ending with the trailer `Greengate-Red-Build: <id>` (for people: it proves nothing), recorded
 * by sha (store/ownReverts.ts) before it is pushed to the bare repository like any
 * push: through its hooks, so the gate itself checks that the commit reverts a blamelist commit of
 * a red build (no bypass exists for the server either). A push that lost a race with another push
 * is made again on the new head (MAX_PUSH_ATTEMPTS).
 *
 * Crash safety: a revert pushed but not yet settled is found again at start-up by its recorded sha
 * on the branch and settled 'pushed' — never pushed twice. A pushed commit carrying the trailer
 * is never taken for greengate's. Settling writes, in one transaction, the row, a tree
 * history event of kind 'auto-revert' (through gate/tree.ts, the one owner of tree state: the state
 * unchanged; the revert's own build reopens the tree by the normal rule) and the notification to
 * the culprit's author.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { RevertRow } from '../store/culprits.js';
import { autoRevertsOn, culpritSettings } from '../config/culprit.js';
import type { Notify } from './finder.js';
import type { RevertFacts } from '../notify/kinds.js';
import { revertNotice } from './notices.js';
import type { Tree } from '../gate/tree.js';
import { REVERT_AUTHOR, gitRun as run, gitSucceeds as succeeds, isMerge, pushRevert, recordedOn, short } from '../gitRevert.js';
import { findExactRevert, proveReverts } from '../exactRevert.js';

export const KILL_SWITCH = 'autorevert';
export const REVERT_TRAILER = 'Greengate-Red-Build';
const DAY_MS = 24 * 60 * 60 * 1000;

export interface RevertDeps {
  store: Store;
  config: Readonly<Config>;
  log: Logger;
  baseUrl(): string;
  /** The owner of tree state: a pushed revert is recorded in the branch's tree history there. */
  tree: Pick<Tree, 'recordAutoRevert'>;
  /** Where the revert's notifications go (inside its transaction): the alerting outbox. */
  notify?: Notify;
}

/** The kill switch (`greengate autorevert off|on`), shared by the culprit's and the deploy's reverts: on unless an admin turned it off. */
export function revertsSwitchedOn(store: Pick<Store, 'culprits'>): boolean {
  return store.culprits.switchValue(KILL_SWITCH) !== 'off';
}

export class AutoReverter {
  private readonly notify: Notify;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly deps: RevertDeps) {
    this.notify = deps.notify ?? (() => undefined);
  }

  /** Whether the kill switch lets reverts happen (on unless an admin turned it off). */
  enabled(): boolean { return revertsSwitchedOn(this.deps.store); }

  setEnabled(on: boolean, actor: string | null): void {
    this.deps.store.culprits.setSwitch(KILL_SWITCH, on ? 'on' : 'off', actor, Date.now());
    this.deps.log.warn({ actor, on }, `automatic reverts turned ${on ? 'on' : 'off'}`);
  }

  switchState(): { state: 'on' | 'off' } { return { state: this.enabled() ? 'on' : 'off' }; }

  /** Settles every wanted revert, one at a time; resolves when none is left. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        for (const r of this.deps.store.culprits.wantedReverts()) {
          try {
            await this.settle(r);
          } catch (err) {
            this.deps.log.error({ err, revert: r.id }, 'automatic revert failed');
            this.refuse(r, `the revert could not be made: ${(err as Error).message.slice(0, 300)}`);
          }
        }
      } while (this.again);
    })().finally(() => { this.running = null; });
    return this.running;
  }

  /** The first guard that refuses this revert before git is asked, or null. */
  guard(r: RevertRow, now = Date.now()): string | null {
    const { store, config } = this.deps;
    if (!this.enabled()) return 'automatic reverts are switched off (greengate autorevert on)';
    const repo = config.repositories.find((x) => x.name === r.repo);
    if (!repo || !autoRevertsOn(repo, r.branch)) return `autoRevert is not on for ${r.repo}/${r.branch} in greengate.yml`;
    if (!store.culprits.get(r.searchId)?.confirmed) return 'the culprit is not confirmed';
    const tree = store.tree.get(r.repoId, r.branch);
    if (tree?.state === 'maintenance') return 'the tree is under maintenance';
    if (tree && tree.state === 'closed' && tree.closedBy !== 'build') return 'the tree was closed by hand';
    if (!tree || tree.state === 'open') return 'the tree is open again: the breakage was fixed meanwhile';
    if (!store.builds.stillRed(r.repoId, r.branch).includes(r.buildId)) return `build #${r.buildId} is no longer red: a later build went green`;
    const { maxPerDay } = culpritSettings(repo);
    const made = store.culprits.revertsPushedSince(r.repoId, r.branch, now - DAY_MS);
    if (made >= maxPerDay) return `${made} automatic revert(s) on ${r.branch} in the last 24 hours already (maxPerDay: ${maxPerDay})`;
    return null;
  }

  private async settle(r: RevertRow): Promise<void> {
    const repo = this.deps.config.repositories.find((x) => x.name === r.repo);
    if (!repo) return this.refuse(r, `${r.repo} is no longer in greengate.yml`);
    const bare = repo.path;
    const ref = `refs/heads/${r.branch}`;
    const head = (await run(['--git-dir', bare, 'rev-parse', '--verify', `${ref}^{commit}`])).trim();
    const done = await this.findRevert(bare, r, head);
    if (done.ours) return this.pushed(r, done.ours); // pushed before a crash: whatever the guards say now
    const refused = this.guard(r);
    if (refused) return this.refuse(r, refused);
    if (await isMerge(bare, r.culpritSha)) return this.refuse(r, `${short(r.culpritSha)} is a merge commit`);
    const message = await run(['--git-dir', bare, 'log', '-1', '--format=%B', r.culpritSha]);
    if (await this.isRevert(bare, r.culpritSha, message)) return this.refuse(r, `${short(r.culpritSha)} is itself a revert: never a revert of a revert`);
    if (done.other) return this.refuse(r, `${short(r.culpritSha)} was reverted already by ${short(done.other)}`);
    if (!(await succeeds(['--git-dir', bare, 'merge-base', '--is-ancestor', r.culpritSha, head]))) {
      return this.refuse(r, `${short(r.culpritSha)} is no longer on ${r.branch}`);
    }
    const out = await pushRevert({ data: this.deps.config.data, workName: String(r.id), bare, branch: r.branch, shas: [r.culpritSha],
      message: this.message(r, message.split('\n', 1)[0]),
      record: (sha) => this.deps.store.ownReverts.record({ sha, repoId: r.repoId, branch: r.branch, source: 'culprit', sourceId: r.id, createdAt: Date.now() }),
      onRace: (attempt) => this.deps.log.info({ revert: r.id, attempt }, 'the branch moved while reverting: trying again on the new head') });
    return out.kind === 'pushed' ? this.pushed(r, out.sha) : this.refuse(r, out.reason);
  }

  private message(r: RevertRow, subject: string): string {
    return [`Revert "${subject}"`, '',
      `This reverts commit ${r.culpritSha}.`, '',
      `greengate's culprit search named it the culprit of red build #${r.buildId} (${this.deps.baseUrl()}/builds/${r.buildId}),`,
      'failing there twice and passing at its parent; this revert was made automatically (autoRevert).', '',
      `${REVERT_TRAILER}: ${r.buildId}`, ''].join('\n');
  }

  /** A revert of the culprit already on the branch: ours (a sha greengate recorded) or someone else's exact revert. */
  private async findRevert(bare: string, r: RevertRow, head: string): Promise<{ ours: string | null; other: string | null }> {
    const ours = await recordedOn(bare, head, this.deps.store.ownReverts.of('culprit', r.id));
    if (ours) return { ours, other: null };
    const other = await findExactRevert(bare, head, r.culpritSha, [[r.culpritSha]]);
    return { ours: null, other: other?.sha ?? null };
  }

  /** Whether a commit is a revert: greengate's own (recorded), or exactly the revert of the commit its message names. */
  private async isRevert(bare: string, sha: string, message: string): Promise<boolean> {
    if (this.deps.store.ownReverts.get(sha)) return true;
    const named = [...message.matchAll(/This reverts commit ([0-9a-f]{7,64})\b/gi)].map((m) => m[1]).slice(0, 5);
    const resolved: string[] = [];
    for (const prefix of named) {
      const full = await run(['--git-dir', bare, 'rev-parse', '--verify', '--quiet', `${prefix}^{commit}`]).catch(() => '');
      if (full.trim()) resolved.push(full.trim());
    }
    return resolved.length > 0 && (await proveReverts({ bare }, [{ sha, message }], resolved)).has(sha);
  }

  private pushed(r: RevertRow, sha: string): void {
    const { store, log } = this.deps;
    const now = Date.now();
    const settled = store.tx(() => {
      if (!store.culprits.settleRevert(r.id, 'pushed', sha, `reverted by ${short(sha)}`, now)) return false;
      this.deps.tree.recordAutoRevert(r.repoId, r.branch, { actor: REVERT_AUTHOR.name,
        reason: `reverted ${short(r.culpritSha)}, the confirmed culprit of build #${r.buildId}`, buildId: r.buildId, revertSha: sha, at: now });
      this.notify('revert.made', revertNotice(this.facts(r, { revert: sha })), this.recipients(r));
      return true;
    });
    if (settled) log.warn({ revert: r.id, culprit: r.culpritSha, sha, build: r.buildId }, 'automatic revert pushed');
  }

  private refuse(r: RevertRow, reason: string): void {
    const { store, log } = this.deps;
    const settled = store.tx(() => {
      if (!store.culprits.settleRevert(r.id, 'refused', null, reason, Date.now())) return false;
      this.notify('revert.refused', revertNotice(this.facts(r, { reason })), this.recipients(r));
      return true;
    });
    if (settled) log.warn({ revert: r.id, culprit: r.culpritSha, build: r.buildId, reason }, 'automatic revert refused');
  }

  private facts(r: RevertRow, extra: Pick<RevertFacts, 'revert' | 'reason'>): RevertFacts {
    const commit = this.deps.store.builds.blamelist(r.buildId).find((c) => c.sha === r.culpritSha);
    return { repo: r.repo, branch: r.branch, build: r.buildId, culprit: r.culpritSha, author: commit?.author ?? null,
      subject: commit?.subject ?? null, url: `${this.deps.baseUrl()}/builds/${r.buildId}`, ...extra };
  }

  private recipients(r: RevertRow): string[] {
    const email = this.deps.store.builds.blamelist(r.buildId).find((c) => c.sha === r.culpritSha)?.email;
    return email ? [email] : [];
  }
}
