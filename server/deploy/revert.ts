/**
 * The deploy's automatic revert (the `revert` hook of deploy/hooks.ts, wired in main.ts): after the
 * orchestrator rolled a regressed deploy back and closed the tree naming the deploy's commits, this
 * reverts those commits on the branch so the next green head does not deploy them again.
 *
 * One commit reverts them all, newest first (`git revert --no-commit` of each, then one commit):
 * one push, one build, one thing to revert back once the cause is understood. It is authored and
 * committed by greengate, its message names the deploy and its page and has one "This reverts
 * commit <sha>." line per commit and the trailer `Greengate-Deploy: <id>` (for people: it proves
 * nothing). Its sha is recorded (store/ownReverts.ts) before it is pushed like any
 * push, through the repository's hooks (server/gitRevert.ts): the gate lets it through the closed
 * tree because every commit it reverts is one the immune closure names (gate/rules.ts
 * `revertable`, read from SQLite). A person may push the same revert by hand the same way.
 *
 * Guards, in order; each refuses by throwing GG_REVERT_REFUSED with its reason, which the
 * orchestrator records on the deploy (revert_state 'failed', shown on its page):
 *   - none when a revert greengate recorded for this deploy is already on the branch (pushed
 *     before a crash): it is done, never pushed twice, whatever the guards say now. A commit
 *     someone pushed with this deploy's trailer is not greengate's and changes nothing;
 *   - the kill switch is on (`greengate autorevert off`, shared with the culprit revert);
 *   - the tree is still closed by the immune system (not under maintenance, not closed by a person,
 *     not opened again: a person has taken over);
 *   - the deploy recorded commits; each still exists, is on the branch, is not a merge commit, and
 *     was not reverted already (a commit since whose tree is exactly their revert, checked with git
 *     by exactRevert.ts; a message saying so proves nothing);
 *   - `git revert` applies cleanly on the branch head (a later commit may have touched the same lines);
 *   - the push is accepted (a lost race is retried on the new head).
 * After the revert lands the tree stays closed: the closure is not automatic, so no build reopens
 * it; a person reads the evidence and opens it (`greengate tree open`). The revert's own green
 * build then asks for a deploy, which waits for that.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import { GgError } from '../errors.js';
import { revertsSwitchedOn } from '../culprit/revert.js';
import { gitAttempt, gitRun, gitSucceeds, isMerge, pushRevert, recordedOn, short } from '../gitRevert.js';
import { findExactRevert } from '../exactRevert.js';

export const DEPLOY_TRAILER = 'Greengate-Deploy';
const MAX_REASON = 500; // characters of the rollback's reason quoted in the message

export interface DeployRevertDeps { store: Store; config: Readonly<Config>; log: Logger; baseUrl(): string }

export class DeployReverter {
  constructor(private readonly d: DeployRevertDeps) {}

  /** The Revert hook: resolves when the revert is on the branch (now or before), throws with the reason it was refused. */
  readonly revert = async (repoName: string, branch: string, shas: readonly string[], reason: string, deployId: number): Promise<void> => {
    const repo = this.d.config.repositories.find((r) => r.name === repoName);
    if (!repo) refuse(`${repoName} is no longer in greengate.yml`);
    if (shas.length === 0) refuse(`deploy ${deployId} recorded no commits to revert`);
    const bare = repo.path;
    const head = (await gitRun(['--git-dir', bare, 'rev-parse', '--verify', `refs/heads/${branch}^{commit}`])).trim();
    for (const sha of shas) {
      if (!(await gitSucceeds(['--git-dir', bare, 'cat-file', '-e', `${sha}^{commit}`]))) refuse(`${short(sha)} is no longer in the repository`);
    }
    const ours = await recordedOn(bare, head, this.d.store.ownReverts.of('deploy', deployId));
    if (ours) {
      this.d.log.info({ deploy: deployId, sha: ours }, 'the revert of the deploy is on the branch already: not pushed again');
      return;
    }
    this.guard(repoName, branch);
    for (const sha of shas) await this.checkCommit(bare, branch, head, sha);
    const already = await findExactRevert(bare, head, shas[shas.length - 1], [shas, ...(shas.length > 1 ? shas.map((s) => [s]) : [])]);
    if (already) refuse(`${already.reverted.map(short).join(' ')} ${already.reverted.length === 1 ? 'was' : 'were'} reverted already by ${short(already.sha)}`);
    const repoId = this.d.store.repos.byName(repoName)!.id;
    const out = await pushRevert({ data: this.d.config.data, workName: `deploy-${deployId}`, bare, branch, shas,
      message: await this.message(bare, shas, reason, deployId),
      record: (sha) => this.d.store.ownReverts.record({ sha, repoId, branch, source: 'deploy', sourceId: deployId, createdAt: Date.now() }),
      onRace: (attempt) => this.d.log.info({ deploy: deployId, attempt }, 'the branch moved while reverting a deploy: trying again on the new head') });
    if (out.kind === 'refused') refuse(out.reason);
    this.d.log.warn({ deploy: deployId, repo: repoName, branch, sha: out.sha, commits: shas.length }, 'the commits of a rolled back deploy were reverted');
  };

  /** The guards that need no git: the kill switch and the tree. */
  private guard(repoName: string, branch: string): void {
    const { store } = this.d;
    if (!revertsSwitchedOn(store)) refuse('automatic reverts are switched off (greengate autorevert on)');
    const repoId = store.repos.byName(repoName)?.id;
    const tree = repoId === undefined ? undefined : store.tree.get(repoId, branch);
    if (tree?.state === 'maintenance') refuse('the tree is under maintenance');
    if (!tree || tree.state === 'open') refuse(`the tree was opened again${tree?.actor ? ` by ${tree.actor}` : ''}: a person has taken over`);
    if (tree.closedBy !== 'immune') refuse(`the tree was closed by ${tree.actor ?? 'a red build'} since: a person has taken over`);
  }

  private async checkCommit(bare: string, branch: string, head: string, sha: string): Promise<void> {
    if (!(await gitSucceeds(['--git-dir', bare, 'merge-base', '--is-ancestor', sha, head]))) refuse(`${short(sha)} is no longer on ${branch}`);
    if (await isMerge(bare, sha)) refuse(`${short(sha)} is a merge commit: revert it by hand, choosing the mainline (git revert -m 1)`);
  }

  private async message(bare: string, shas: readonly string[], reason: string, deployId: number): Promise<string> {
    const subjects = await gitAttempt(['--git-dir', bare, 'show', '-s', '--format=%H %s', ...shas]);
    const subjectOf = new Map(subjects.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, 40), l.slice(41)]));
    const url = `${this.d.baseUrl()}/deploys/${deployId}`;
    const flat = reason.replace(/\s+/g, ' ').trim().slice(0, MAX_REASON);
    return [`Revert deploy ${deployId}: ${shas.length} commit(s) up to ${short(shas[0])}`, '',
      `greengate's immune system rolled deploy ${deployId} back (${url}):`, flat, '',
      'Its commits are reverted here, newest first, in one commit; the tree stays closed until a person opens it.', '',
      ...shas.map((sha) => `This reverts commit ${sha}. ${subjectOf.get(sha) ?? ''}`.trimEnd()), '',
      `${DEPLOY_TRAILER}: ${deployId}`, ''].join('\n');
  }
}

function refuse(reason: string): never {
  throw new GgError('GG_REVERT_REFUSED', reason);
}
