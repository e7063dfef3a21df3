/**
 * The commit gate's decision: given a parsed gate request (gateRequest.ts) and what the server
 * knows about each gated branch, accept or reject the push and say why, line by line, for the
 * pusher. Pure: no I/O, no clock; `lookup` is called once per refs/heads/* update that is not
 * a deletion and must not throw for unknown branches (answer `gated: false`).
 *
 * Rules, per update:
 *   - not refs/heads/*, a deletion, or an ungated branch → passes (one short line);
 *   - open → passes;
 *   - closed → passes if every new commit is an exact revert of commits of the red build's blamelist
 *     (Tree.lookup gives the blamelists of every build of the branch still red, so a fix attempt
 *     that went red does not hide the original culprit) — proven with git by its tree, never by its
 *     message (`proven`, from exactRevert.ts: a message saying "This reverts commit <sha>"
 *     proves nothing; kind 'revert') — or carries the trailer line "Fixes-build: <red build id>"
 *     (kind 'fix', recorded as the pusher's claim: nothing checks it); a closure by the
 *     immune system for a rolled-back deploy names that deploy's commits (`revertable`, from
 *     SQLite) and passes a push whose every new commit is an exact revert of them (kind 'revert');
 *     a closure with no red build and nothing revertable (by hand), no new commits (a rewind), or
 *     a truncated commit list (over the cap) never passes that way;
 *   - maintenance → only the bypass;
 *   - closed or maintenance, with push option greengate.bypass=<reason> (non-blank) → passes
 *     (kind 'bypass', the reason recorded), when the commits alone do not.
 * A push is atomic (git's pre-receive accepts or refuses it whole): one refused ref refuses all,
 * and then `passes` is empty (nothing landed, nothing to record).
 */
import { GgError } from '../errors.js';
import { isZero, parseGateRequest, type GateRequest, type GateUpdate } from './request.js';
import { namedIn } from '../exactRevert.js';

export interface BranchGate {
  gated: boolean;
  state: 'open' | 'closed' | 'maintenance';
  reason: string | null;
  message: string | null;
  since: number | null; // epoch milliseconds (epoch seconds are recognised too)
  build: { id: number; url: string; blamelist: string[] /* full shas: the red build's, then those of the other builds still red */ } | null;
  /** Full shas a revert may name to pass this closure besides the blamelist: a rolled-back deploy's commits (none when absent). */
  revertable?: string[];
}

export type PassKind = 'revert' | 'fix' | 'bypass';
export interface GatePass { ref: string; branch: string; kind: PassKind; commits: string[]; reason: string }
export interface GateVerdict { accept: boolean; lines: string[]; passes: GatePass[] }
/** Commits proven (with git) to be exact reverts, each with the commits it reverts. */
export type ProvenReverts = ReadonlyMap<string, readonly string[]>;
/** Proves which commits of an update are exact reverts of `allowed` (exactRevert.ts proveReverts). */
export type RevertProver = (update: GateUpdate, allowed: string[], request: GateRequest) => Promise<ProvenReverts>;
export const CLAIM_NOTE = "the pusher's claim, not checked by greengate";

export const BYPASS_OPTION = 'greengate.bypass';
const MAX_LISTED = 10; // commits named in one rejection line
const MAX_TEXT = 300; // characters of server- or user-written text in one line
const FIXES = /^Fixes-build:[ \t]*#?(\d+)[ \t]*\r?$/gim;

interface Outcome { ref: string; accept: boolean; lines: string[]; passes: GatePass[] }
interface Bypass { reason: string | null; asked: boolean }

export function decideGate(req: GateRequest, lookup: (branch: string) => BranchGate, proven: ProvenReverts = new Map()): GateVerdict {
  const bypass = findBypass(req.options);
  const outcomes = req.updates.map((update) => decideUpdate(update, lookup, bypass, proven));
  const refused = outcomes.filter((o) => !o.accept);
  if (refused.length === 0) {
    return { accept: true, lines: outcomes.flatMap((o) => o.lines), passes: outcomes.flatMap((o) => o.passes) };
  }
  const lines = outcomes.flatMap((o) =>
    o.accept ? [`greengate: ${o.ref}: fine on its own, but refused with the rest of this push`] : o.lines,
  );
  lines.push(`greengate: push refused (a push lands whole or not at all): ${refused.map((o) => o.ref).join(', ')}`);
  return { accept: false, lines, passes: [] };
}

/** The response body of `POST /api/gate/:repo` for a verdict: "accept"|"reject", then lines. */
export function formatGateAnswer(verdict: GateVerdict): string {
  return [verdict.accept ? 'accept' : 'reject', ...verdict.lines].join('\n') + '\n';
}

export interface GateAnswer { status: 200 | 400; text: string; request: GateRequest | null; verdict: GateVerdict | null }

/**
 * What the HTTP route answers for a request body: 200 with the verdict; 200 "reject" with the
 * reason for a push over a cap (so greengate.onUnreachable=allow cannot wave it through);
 * 400 with the reason for a malformed body (the hook then applies greengate.onUnreachable).
 * Record `verdict.passes` when `verdict.accept`.
 */
export async function answerGate(body: Buffer, lookup: (branch: string) => BranchGate, prove?: RevertProver): Promise<GateAnswer> {
  let request: GateRequest;
  try {
    request = parseGateRequest(body);
  } catch (err) {
    if (!(err instanceof GgError) || (err.code !== 'GG_GATE_BAD_REQUEST' && err.code !== 'GG_GATE_TOO_LARGE')) throw err;
    if (err.code === 'GG_GATE_TOO_LARGE') {
      const verdict: GateVerdict = { accept: false, lines: [`greengate: push refused: ${err.message}`], passes: [] };
      return { status: 200, text: formatGateAnswer(verdict), request: null, verdict };
    }
    return { status: 400, text: `greengate: bad gate request: ${err.message}\n`, request: null, verdict: null };
  }
  const proven = new Map<string, readonly string[]>();
  for (const update of prove ? request.updates : []) {
    const allowed = revertTargets(update, lookup);
    if (allowed.length) for (const [sha, reverted] of await prove!(update, allowed, request)) proven.set(sha, reverted);
  }
  const verdict = decideGate(request, lookup, proven);
  return { status: 200, text: formatGateAnswer(verdict), request, verdict };
}

/** Why a gated branch's new head cannot build: its pipeline file is missing or invalid there (changes/pipelines.ts). */
export interface PipelineProblem { ref: string; sha: string; message: string }

/**
 * The verdict with pushes whose new head's pipeline file is missing or invalid refused (each
 * problem line of the file told to the pusher), for updates of gated branches; others as they were.
 */
export function refuseInvalidPipelines(verdict: GateVerdict, problems: readonly PipelineProblem[]): GateVerdict {
  if (problems.length === 0 || !verdict.accept) return verdict;
  const lines = problems.flatMap((p) => [
    `greengate: ${p.ref.replace(/^refs\/heads\//, '')}: push refused: the pipeline file at ${p.sha.slice(0, 7)} cannot run — fix it and push again:`,
    ...p.message.split('\n').map((l) => `greengate:   ${l.slice(0, 2 * MAX_TEXT)}`),
  ]);
  lines.push(`greengate: push refused (a push lands whole or not at all): ${problems.map((p) => p.ref).join(', ')}`);
  return { accept: false, lines, passes: [] };
}

/** The commits an update's new commits may revert to pass a closed tree (none when reverts cannot pass). */
export function revertTargets(update: GateUpdate, lookup: (branch: string) => BranchGate): string[] {
  if (!update.ref.startsWith('refs/heads/') || isZero(update.new) || update.truncated || update.commits.length === 0) return [];
  const gate = lookup(update.ref.slice('refs/heads/'.length));
  if (!gate.gated || gate.state !== 'closed') return [];
  return [...new Set([...(gate.build?.blamelist ?? []), ...(gate.revertable ?? [])])];
}

function decideUpdate(update: GateUpdate, lookup: (branch: string) => BranchGate, bypass: Bypass, proven: ProvenReverts): Outcome {
  const { ref } = update;
  const pass = (line: string, passes: GatePass[] = []): Outcome => ({ ref, accept: true, lines: [`greengate: ${line}`], passes });
  if (!ref.startsWith('refs/heads/')) return pass(`${ref}: not a branch, not gated`);
  if (isZero(update.new)) return pass(`${ref}: deletion, not gated`);
  const branch = ref.slice('refs/heads/'.length);
  const gate = lookup(branch);
  if (!gate.gated) return pass(`${branch}: not gated`);
  if (gate.state === 'open') return pass(`${branch}: tree open, accepted`);
  const shas = update.commits.map((c) => c.sha);
  const fixes = gate.state === 'closed' ? classifyFixes(update, gate, proven) : null;
  if (fixes) {
    const passes = fixes.map((f) => ({ ref, branch, ...f }));
    const reverted = gate.build ? 'revert(s) of the blamelist' : 'revert(s) of the commits the closure names';
    const summary = fixes.map((f) => `${f.commits.length} ${f.kind === 'revert' ? reverted : `fix(es) of build #${gate.build?.id}`}`);
    return pass(`${branch}: tree CLOSED, accepted: ${summary.join(', ')}`, passes);
  }
  if (bypass.reason !== null) {
    const passes: GatePass[] = [{ ref, branch, kind: 'bypass', commits: shas, reason: bypass.reason }];
    return pass(`${branch}: tree ${describeState(gate.state)}, accepted by bypass "${bypass.reason}" (recorded)`, passes);
  }
  return { ref, accept: false, lines: explainRefusal(update, branch, gate, bypass, proven), passes: [] };
}

/** The passes of a closed branch's commits, or null unless every commit is a revert or a fix. */
function classifyFixes(update: GateUpdate, gate: BranchGate, proven: ProvenReverts): { kind: PassKind; commits: string[]; reason: string }[] | null {
  const build = gate.build;
  const revertable = gate.revertable ?? [];
  if ((!build && revertable.length === 0) || update.truncated || update.commits.length === 0) return null;
  const reverts: string[] = [];
  const fixes: string[] = [];
  for (const commit of update.commits) {
    if (revertsAllowed(proven.get(commit.sha), build?.blamelist ?? [], revertable)) reverts.push(commit.sha);
    else if (build && namesBuild(commit.message, build.id)) fixes.push(commit.sha);
    else return null;
  }
  const passes: { kind: PassKind; commits: string[]; reason: string }[] = [];
  if (reverts.length) passes.push({ kind: 'revert', commits: reverts, reason: revertReason(gate) });
  if (fixes.length) passes.push({ kind: 'fix', commits: fixes, reason: `Fixes-build: ${build!.id} (${CLAIM_NOTE})` });
  return passes;
}

function revertReason(gate: BranchGate): string {
  const deploy = gate.revertable?.length ? `the commits the closure names (${cleanText(gate.reason ?? 'rolled-back deploy')})` : null;
  if (gate.build && deploy) return `reverts blamelist commits of build #${gate.build.id} or ${deploy}`;
  return gate.build ? `reverts blamelist commits of build #${gate.build.id}` : `reverts ${deploy}`;
}

/** Whether a proven revert reverts only commits this closure lets a revert name. */
function revertsAllowed(reverted: readonly string[] | undefined, blamelist: readonly string[], revertable: readonly string[]): boolean {
  return !!reverted?.length && reverted.every((sha) => blamelist.includes(sha) || revertable.includes(sha));
}

export function namesBuild(message: string, buildId: number): boolean {
  for (const match of message.matchAll(FIXES)) {
    if (Number(match[1]) === buildId) return true;
  }
  return false;
}

function findBypass(options: string[]): Bypass {
  let asked = false;
  for (const option of options) {
    if (option !== BYPASS_OPTION && !option.startsWith(`${BYPASS_OPTION}=`)) continue;
    asked = true;
    const reason = cleanText(option.slice(BYPASS_OPTION.length + 1));
    if (reason !== '') return { reason, asked };
  }
  return { reason: null, asked };
}

function explainRefusal(update: GateUpdate, branch: string, gate: BranchGate, bypass: Bypass, proven: ProvenReverts): string[] {
  const build = gate.build;
  const since = gate.since === null ? '' : ` since ${formatSince(gate.since)}`;
  const lines = [`REFUSED ${branch}: the tree is ${describeState(gate.state)}${since}`];
  if (gate.reason) lines.push(`  reason: ${cleanText(gate.reason)}`);
  if (gate.message) lines.push(`  message: ${cleanText(gate.message)}`);
  if (build && gate.state === 'closed') {
    lines.push(`  red build: #${build.id} ${cleanText(build.url)}`);
    lines.push(`  blamelist: ${listShas(build.blamelist) || '(empty)'}`);
  }
  const revertable = gate.state === 'closed' ? gate.revertable ?? [] : [];
  if (revertable.length) lines.push(`  revertable: ${listShas(revertable)}`);
  lines.push(...explainCommits(update, gate, proven));
  lines.push('  to get through:');
  if (gate.state === 'closed' && build) {
    lines.push(`    - revert the culprit: git revert <sha from the blamelist>, or`);
    lines.push(`    - end the message of every commit that fixes the build with the line "Fixes-build: ${build.id}", or`);
  } else if (gate.state === 'closed' && revertable.length) {
    lines.push('    - revert the commits the closure names: git revert <sha from the revertable list>, or');
    lines.push('    - ask the sheriff to open the tree (greengate tree open), or');
  } else if (gate.state === 'closed') {
    lines.push('    - ask the sheriff to open the tree (greengate tree open), or');
  } else {
    lines.push('    - wait for the maintenance to end (greengate tree status), or');
  }
  lines.push(`    - in an emergency: git push -o ${BYPASS_OPTION}="<reason>" (recorded)`);
  if (bypass.asked) lines.push(`  note: ${BYPASS_OPTION} was given without a reason; it needs one`);
  return lines.map((line) => `greengate: ${line}`);
}

function explainCommits(update: GateUpdate, gate: BranchGate, proven: ProvenReverts): string[] {
  if (gate.state !== 'closed') return [];
  const revertable = gate.revertable ?? [];
  if (!gate.build && !revertable.length) return ['  closed by hand: no red build to revert or fix'];
  if (update.commits.length === 0) return ['  no new commits (a rewind, or a move to a commit already pushed): only a bypass gets through'];
  if (update.truncated) return [`  more than ${update.commits.length} new commits: too many to check; push fewer at a time`];
  const build = gate.build;
  const allowed = [...(build?.blamelist ?? []), ...revertable];
  const blocking = update.commits.filter((c) => !revertsAllowed(proven.get(c.sha), build?.blamelist ?? [], revertable) &&
    !(build && namesBuild(c.message, build.id)));
  const lookAlike = blocking.filter((c) => namedIn(c.message, allowed).length > 0);
  const note = lookAlike.length === 0 ? [] : [
    `  ${lookAlike.length} of them say${lookAlike.length === 1 ? 's' : ''} "This reverts commit …" but ${lookAlike.length === 1 ? 'its' : 'their'} changes are not exactly that revert`,
    '  (greengate compares the commit\'s tree with git revert\'s, never its message): make it with git revert <sha> and change nothing else'];
  if (!build) return ['  not a revert of the commits the closure names:', ...listCommits(blocking, lookAlike), ...note];
  return [`  neither a revert of the blamelist nor marked Fixes-build: ${build.id}:`, ...listCommits(blocking, lookAlike), ...note];
}

function listCommits(commits: GateUpdate['commits'], lookAlike: GateUpdate['commits'] = []): string[] {
  const shown = commits.slice(0, MAX_LISTED).map((c) =>
    `    ${c.sha.slice(0, 7)} ${cleanText(c.message.split('\n', 1)[0]).slice(0, 72)}${lookAlike.includes(c) ? ' (not an exact revert)' : ''}`);
  return commits.length > MAX_LISTED ? [...shown, `    … and ${commits.length - MAX_LISTED} more`] : shown;
}

function describeState(state: BranchGate['state']): string {
  return state === 'maintenance' ? 'in MAINTENANCE' : state.toUpperCase();
}

function listShas(shas: string[]): string {
  const shown = shas.slice(0, MAX_LISTED).map((sha) => sha.slice(0, 7));
  if (shas.length > MAX_LISTED) shown.push(`(+${shas.length - MAX_LISTED} more)`);
  return shown.join(' ');
}

/** One line of text fit to print on a terminal: no control characters, trimmed, capped. */
function cleanText(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim();
  return flat.length > MAX_TEXT ? `${flat.slice(0, MAX_TEXT)}…` : flat;
}

function formatSince(since: number): string {
  const ms = since < 1e11 ? since * 1000 : since;
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return String(since);
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
