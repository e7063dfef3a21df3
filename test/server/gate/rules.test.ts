import { expect } from 'chai';
import { answerGate, decideGate, formatGateAnswer, refuseInvalidPipelines, revertTargets, type BranchGate, type ProvenReverts } from '../../../server/gate/rules.js';
import { namedIn } from '../../../server/exactRevert.js';
import type { GateRequest, GateUpdate } from '../../../server/gate/request.js';

const ZERO = '0'.repeat(40);
const OLD = '1'.repeat(40);
const CULPRIT = 'c0ffee1234567890c0ffee1234567890c0ffee12';
const OTHER = 'beef000000000000000000000000000000000000';
const SINCE = Date.UTC(2025, 10, 22, 2, 33);

const OPEN: BranchGate = { gated: true, state: 'open', reason: null, message: null, since: null, build: null };
const UNGATED: BranchGate = { ...OPEN, gated: false };
const CLOSED: BranchGate = {
  gated: true,
  state: 'closed',
  reason: 'build #7 failed: unit',
  message: 'looking into it — bob',
  since: SINCE,
  build: { id: 7, url: 'http://ci.example/builds/7', blamelist: [CULPRIT, OTHER] },
};
const BY_HAND: BranchGate = { ...CLOSED, reason: 'closed by bob', build: null };
const DEPLOYED = ['deb0000000000000000000000000000000000001', 'deb0000000000000000000000000000000000002'];
const DEPLOY_CLOSURE: BranchGate = { ...CLOSED, reason: 'deploy 4 regressed at stage canary', build: null, revertable: DEPLOYED };
const MAINTENANCE: BranchGate = { ...CLOSED, state: 'maintenance', reason: null, message: 'moving the database', build: null };

let shaCounter = 0;
function sha(): string {
  shaCounter++;
  return shaCounter.toString(16).padStart(40, 'd');
}

function update(ref: string, messages: string[], extra: Partial<GateUpdate> = {}): GateUpdate {
  const commits = messages.map((message) => ({ sha: sha(), message }));
  return { old: OLD, new: commits[0]?.sha ?? sha(), ref, commits, truncated: false, ...extra };
}

function request(updates: GateUpdate[], options: string[] = []): GateRequest {
  return { pusher: 'ada', options, updates };
}

function table(gates: Record<string, BranchGate>): { lookup: (branch: string) => BranchGate; asked: string[] } {
  const asked: string[] = [];
  return { asked, lookup: (branch) => (asked.push(branch), gates[branch] ?? UNGATED) };
}

/**
 * Stands in for git's proof (exactRevert.ts, tested on real repositories in exactRevert.test.ts
 * and test/integration/gateIntegrity.test.ts): takes each commit's message at its word, so these
 * tests read as the rule's. The rule itself only believes `proven`.
 */
function trusting(req: GateRequest, lookup: (branch: string) => BranchGate): ProvenReverts {
  const proven = new Map<string, string[]>();
  for (const u of req.updates) {
    const allowed = revertTargets(u, lookup);
    for (const c of u.commits) if (namedIn(c.message, allowed).length) proven.set(c.sha, namedIn(c.message, allowed));
  }
  return proven;
}
function decide(req: GateRequest, lookup: (branch: string) => BranchGate) {
  return decideGate(req, lookup, trusting(req, lookup));
}

const revert = (target: string) => `Revert "Break the cart"\n\nThis reverts commit ${target}.\n`;

describe('decideGate', () => {
  it('accepts a push to an open tree', () => {
    const verdict = decide(request([update('refs/heads/main', ['Add the cart\n'])]), table({ main: OPEN }).lookup);
    expect(verdict).to.deep.equal({ accept: true, lines: ['greengate: main: tree open, accepted'], passes: [] });
  });

  it('lets tags, deletions and ungated branches through without asking about them', () => {
    const t = table({ main: CLOSED, release: CLOSED });
    const verdict = decideGate(
      request([
        update('refs/tags/v1', ['x\n']),
        update('refs/try/ada', ['x\n']),
        update('refs/heads/release', [], { new: ZERO }),
        update('refs/heads/feature', ['wip\n']),
      ]),
      t.lookup,
    );
    expect(verdict.accept).to.equal(true);
    expect(verdict.passes).to.deep.equal([]);
    expect(verdict.lines).to.deep.equal([
      'greengate: refs/tags/v1: not a branch, not gated',
      'greengate: refs/try/ada: not a branch, not gated',
      'greengate: refs/heads/release: deletion, not gated',
      'greengate: feature: not gated',
    ]);
    expect(t.asked).to.deep.equal(['feature']);
  });

  it('refuses a push to a closed tree and says what, why, since when, which build, who, and how to get through', () => {
    const verdict = decide(request([update('refs/heads/main', ['Add the cart\n\nMore.\n'])]), table({ main: CLOSED }).lookup);
    expect(verdict.accept).to.equal(false);
    expect(verdict.passes).to.deep.equal([]);
    const text = verdict.lines.join('\n');
    expect(verdict.lines[0]).to.equal('greengate: REFUSED main: the tree is CLOSED since 2025-11-22 02:33 UTC');
    expect(text).to.include('reason: build #7 failed: unit');
    expect(text).to.include('message: looking into it — bob');
    expect(text).to.include('red build: #7 http://ci.example/builds/7');
    expect(text).to.include('blamelist: c0ffee1 beef000');
    expect(text).to.match(/neither a revert of the blamelist nor marked Fixes-build: 7:\ngreengate:     \w{7} Add the cart/);
    expect(text).to.include('git revert <sha from the blamelist>');
    expect(text).to.include('"Fixes-build: 7"');
    expect(text).to.include('git push -o greengate.bypass="<reason>"');
    expect(verdict.lines.at(-1)).to.equal('greengate: push refused (a push lands whole or not at all): refs/heads/main');
    for (const line of verdict.lines) expect(line).to.match(/^greengate: [^\n]*$/);
  });

  it('accepts reverts of blamelist commits, by full or abbreviated (≥ 7) sha', () => {
    const up = update('refs/heads/main', [revert(CULPRIT), revert('BEEF000'), `Revert two\n\nThis reverts commit 1234567.\nThis reverts commit ${CULPRIT.slice(0, 12)}.\n`]);
    const verdict = decide(request([up]), table({ main: CLOSED }).lookup);
    expect(verdict.accept).to.equal(true);
    expect(verdict.lines).to.deep.equal(['greengate: main: tree CLOSED, accepted: 3 revert(s) of the blamelist']);
    expect(verdict.passes).to.deep.equal([
      { ref: 'refs/heads/main', branch: 'main', kind: 'revert', commits: up.commits.map((c) => c.sha), reason: 'reverts blamelist commits of build #7' },
    ]);
  });

  it('believes no message: a commit saying it reverts a blamelist commit passes only when proven, and is named a look-alike', () => {
    const up = update('refs/heads/main', [revert(CULPRIT)]);
    const refused = decideGate(request([up]), table({ main: CLOSED }).lookup);
    expect(refused.accept).to.equal(false);
    expect(refused.lines.join('\n')).to.contain(`${up.commits[0].sha.slice(0, 7)} Revert "Break the cart" (not an exact revert)`)
      .and.contain('never its message');
    const proven = decideGate(request([up]), table({ main: CLOSED }).lookup, new Map([[up.commits[0].sha, [CULPRIT]]]));
    expect(proven.accept).to.equal(true);
    expect(proven.passes).to.deep.equal([{ ref: 'refs/heads/main', branch: 'main', kind: 'revert', commits: [up.commits[0].sha],
      reason: 'reverts blamelist commits of build #7' }]);
    const outside = decideGate(request([up]), table({ main: CLOSED }).lookup, new Map([[up.commits[0].sha, ['f'.repeat(40)]]]));
    expect(outside.accept, 'a proof of reverting a commit outside the blamelist').to.equal(false);
  });

  it('does not take a revert of a commit outside the blamelist, or a sha shorter than 7', () => {
    const lookup = table({ main: CLOSED }).lookup;
    expect(decide(request([update('refs/heads/main', [revert('1234567890')])]), lookup).accept).to.equal(false);
    expect(decide(request([update('refs/heads/main', [revert('c0ffee')])]), lookup).accept).to.equal(false);
    expect(decide(request([update('refs/heads/main', [revert(`${CULPRIT.slice(0, 8)}ff`)])]), lookup).accept).to.equal(false);
  });

  it('accepts commits marked Fixes-build with the red build id, and records reverts and fixes apart', () => {
    const up = update('refs/heads/main', ['Fix the cart\n\nFixes-build: 7\n', revert(CULPRIT), 'Fix more\n\nSigned-off-by: Ada\nfixes-build: #7\n']);
    const verdict = decide(request([up]), table({ main: CLOSED }).lookup);
    expect(verdict.accept).to.equal(true);
    expect(verdict.lines).to.deep.equal(['greengate: main: tree CLOSED, accepted: 1 revert(s) of the blamelist, 2 fix(es) of build #7']);
    expect(verdict.passes.map((p) => [p.kind, p.commits, p.reason])).to.deep.equal([
      ['revert', [up.commits[1].sha], 'reverts blamelist commits of build #7'],
      ['fix', [up.commits[0].sha, up.commits[2].sha], "Fixes-build: 7 (the pusher's claim, not checked by greengate)"],
    ]);
  });

  it('refuses Fixes-build of another build, and one stray commit among fixes', () => {
    const lookup = table({ main: CLOSED }).lookup;
    expect(decide(request([update('refs/heads/main', ['Fix\n\nFixes-build: 6\n'])]), lookup).accept).to.equal(false);
    expect(decide(request([update('refs/heads/main', ['Fix\n\nFixes-build: 77\n'])]), lookup).accept).to.equal(false);
    const mixed = update('refs/heads/main', ['Fix\n\nFixes-build: 7\n', 'Sneak in a feature\n']);
    const verdict = decide(request([mixed]), lookup);
    expect(verdict.accept).to.equal(false);
    const listed = verdict.lines.filter((l) => /^greengate: {5}\w{7} /.test(l));
    expect(listed).to.deep.equal([`greengate:     ${mixed.commits[1].sha.slice(0, 7)} Sneak in a feature`]);
  });

  it('takes a bypass with a reason on a closed tree and records it', () => {
    const up = update('refs/heads/main', ['Hotfix\n']);
    const verdict = decide(request([up], ['other', 'greengate.bypass=  prod is down  ']), table({ main: CLOSED }).lookup);
    expect(verdict.accept).to.equal(true);
    expect(verdict.lines).to.deep.equal(['greengate: main: tree CLOSED, accepted by bypass "prod is down" (recorded)']);
    expect(verdict.passes).to.deep.equal([{ ref: 'refs/heads/main', branch: 'main', kind: 'bypass', commits: [up.commits[0].sha], reason: 'prod is down' }]);
  });

  it('records reverts as reverts even when a bypass was given too', () => {
    const verdict = decide(request([update('refs/heads/main', [revert(CULPRIT)])], ['greengate.bypass=just in case']), table({ main: CLOSED }).lookup);
    expect(verdict.passes.map((p) => p.kind)).to.deep.equal(['revert']);
  });

  it('does not count a bypass without a reason, and says so', () => {
    for (const option of ['greengate.bypass=', 'greengate.bypass=   ', 'greengate.bypass']) {
      const verdict = decide(request([update('refs/heads/main', ['Hotfix\n'])], [option]), table({ main: CLOSED }).lookup);
      expect(verdict.accept, option).to.equal(false);
      expect(verdict.lines).to.include('greengate:   note: greengate.bypass was given without a reason; it needs one');
    }
  });

  it('in maintenance refuses a revert but takes the bypass', () => {
    const lookup = table({ main: MAINTENANCE }).lookup;
    const refused = decide(request([update('refs/heads/main', [revert(CULPRIT)])]), lookup);
    expect(refused.accept).to.equal(false);
    expect(refused.lines[0]).to.equal('greengate: REFUSED main: the tree is in MAINTENANCE since 2025-11-22 02:33 UTC');
    expect(refused.lines.join('\n')).to.include('message: moving the database');
    expect(refused.lines.join('\n')).to.include('wait for the maintenance to end');
    expect(refused.lines.join('\n')).not.to.include('Fixes-build');
    const bypassed = decide(request([update('refs/heads/main', [revert(CULPRIT)])], ['greengate.bypass=db done early']), lookup);
    expect(bypassed.accept).to.equal(true);
    expect(bypassed.passes[0]).to.include({ kind: 'bypass', reason: 'db done early' });
    expect(bypassed.lines).to.deep.equal(['greengate: main: tree in MAINTENANCE, accepted by bypass "db done early" (recorded)']);
  });

  it('on a tree closed by hand only the bypass gets through', () => {
    const lookup = table({ main: BY_HAND }).lookup;
    const verdict = decide(request([update('refs/heads/main', [revert(CULPRIT), 'Fix\n\nFixes-build: 7\n'])]), lookup);
    expect(verdict.accept).to.equal(false);
    expect(verdict.lines.join('\n')).to.include('closed by hand: no red build to revert or fix');
    expect(verdict.lines.join('\n')).to.include('ask the sheriff to open the tree');
    expect(decide(request([update('refs/heads/main', ['x\n'])], ['greengate.bypass=ok by bob']), lookup).accept).to.equal(true);
  });

  it('on a closure for a rolled-back deploy, passes reverts of the deploy\'s commits (one commit may revert several), without a bypass', () => {
    const up = update('refs/heads/main', [`Revert deploy 4\n\nThis reverts commit ${DEPLOYED[1]}.\nThis reverts commit ${DEPLOYED[0]}.\n`, revert(DEPLOYED[0])]);
    const verdict = decide(request([up]), table({ main: DEPLOY_CLOSURE }).lookup);
    expect(verdict.accept).to.equal(true);
    expect(verdict.lines).to.deep.equal(['greengate: main: tree CLOSED, accepted: 2 revert(s) of the commits the closure names']);
    expect(verdict.passes).to.deep.equal([{ ref: 'refs/heads/main', branch: 'main', kind: 'revert', commits: up.commits.map((c) => c.sha),
      reason: 'reverts the commits the closure names (deploy 4 regressed at stage canary)' }]);
  });

  it('on a closure for a rolled-back deploy, refuses a revert of any other commit, a fix, or a stray commit among reverts', () => {
    const lookup = table({ main: DEPLOY_CLOSURE }).lookup;
    for (const messages of [[revert(CULPRIT)], ['Fix\n\nFixes-build: 7\n'], [revert(DEPLOYED[0]), 'Sneak in a feature\n'], ['Sneak in a feature\n']]) {
      const verdict = decide(request([update('refs/heads/main', messages)]), lookup);
      expect(verdict.accept, messages.join(' | ')).to.equal(false);
      expect(verdict.passes).to.deep.equal([]);
      const text = verdict.lines.join('\n');
      expect(text).to.include('reason: deploy 4 regressed at stage canary');
      expect(text).to.include(`revertable: ${DEPLOYED.map((x) => x.slice(0, 7)).join(' ')}`);
      expect(text).to.include('not a revert of the commits the closure names:');
      expect(text).to.include('revert the commits the closure names: git revert <sha from the revertable list>');
      expect(text).not.to.include('Fixes-build');
    }
    expect(decide(request([update('refs/heads/main', ['x\n'])], ['greengate.bypass=ok by bob']), lookup).passes[0]).to.include({ kind: 'bypass' });
  });

  it('a revert of a deployed commit does not pass a closure by hand, a red build\'s closure, or maintenance', () => {
    for (const gate of [BY_HAND, CLOSED, MAINTENANCE, { ...MAINTENANCE, revertable: DEPLOYED }]) {
      expect(decide(request([update('refs/heads/main', [revert(DEPLOYED[0])])]), table({ main: gate }).lookup).accept, gate.reason ?? gate.state).to.equal(false);
    }
  });

  it('refuses a push with no new commits on a closed branch unless bypassed', () => {
    const lookup = table({ main: CLOSED }).lookup;
    const rewind = update('refs/heads/main', []);
    const verdict = decide(request([rewind]), lookup);
    expect(verdict.accept).to.equal(false);
    expect(verdict.lines.join('\n')).to.include('no new commits (a rewind, or a move to a commit already pushed)');
    const bypassed = decide(request([rewind], ['greengate.bypass=roll back the release']), lookup);
    expect(bypassed.accept).to.equal(true);
    expect(bypassed.passes).to.deep.equal([{ ref: 'refs/heads/main', branch: 'main', kind: 'bypass', commits: [], reason: 'roll back the release' }]);
  });

  it('refuses a truncated commit list on a closed tree but not on an open one', () => {
    const big = update('refs/heads/main', [revert(CULPRIT)], { truncated: true });
    const refused = decide(request([big]), table({ main: CLOSED }).lookup);
    expect(refused.accept).to.equal(false);
    expect(refused.lines.join('\n')).to.include('too many to check; push fewer at a time');
    expect(decide(request([big]), table({ main: OPEN }).lookup).accept).to.equal(true);
  });

  it('refuses the whole push when one ref is refused, and records nothing', () => {
    const verdict = decide(
      request([update('refs/heads/feature', ['wip\n']), update('refs/heads/main', ['Add\n']), update('refs/heads/release', [revert(CULPRIT)])]),
      table({ main: CLOSED, release: CLOSED }).lookup,
    );
    expect(verdict.accept).to.equal(false);
    expect(verdict.passes).to.deep.equal([]);
    expect(verdict.lines[0]).to.equal('greengate: refs/heads/feature: fine on its own, but refused with the rest of this push');
    expect(verdict.lines).to.include('greengate: refs/heads/release: fine on its own, but refused with the rest of this push');
    expect(verdict.lines.at(-1)).to.equal('greengate: push refused (a push lands whole or not at all): refs/heads/main');
  });

  it('ignores a bypass on an open tree', () => {
    const verdict = decide(request([update('refs/heads/main', ['x\n'])], ['greengate.bypass=habit']), table({ main: OPEN }).lookup);
    expect(verdict).to.deep.equal({ accept: true, lines: ['greengate: main: tree open, accepted'], passes: [] });
  });

  it('keeps every line one clean terminal line, whatever the message, reason or subject holds', () => {
    const dirty: BranchGate = { ...CLOSED, reason: 'red\x1b[31m\nbuild', message: 'line1\r\nline2' };
    const verdict = decide(request([update('refs/heads/main', ['Evil \x1b]0;title\x07 subject\nbody\n'])]), table({ main: dirty }).lookup);
    for (const line of verdict.lines) expect(line).not.to.match(/[\x00-\x1f\x7f]/);
    expect(verdict.lines.join('\n')).to.include('reason: red [31m build');
    const bypass = decide(request([update('refs/heads/main', ['x\n'])], ['greengate.bypass=a\x1bb']), table({ main: dirty }).lookup);
    expect(bypass.passes[0].reason).to.equal('a b');
  });

  it('reads since in epoch seconds as well as milliseconds', () => {
    const verdict = decide(request([update('refs/heads/main', ['x\n'])]), table({ main: { ...CLOSED, since: SINCE / 1000 } }).lookup);
    expect(verdict.lines[0]).to.equal('greengate: REFUSED main: the tree is CLOSED since 2025-11-22 02:33 UTC');
  });
});

describe('answerGate', () => {
  const lookup = (branch: string) => (branch === 'main' ? CLOSED : UNGATED);

  it('answers 200 with "accept" or "reject" and the lines', async () => {
    const ok = await answerGate(Buffer.from(`greengate-gate 1\nupdate ${OLD} ${'2'.repeat(40)} refs/heads/feature\nend\n`), lookup);
    expect(ok.status).to.equal(200);
    expect(ok.text).to.equal('accept\ngreengate: feature: not gated\n');
    expect(ok.request?.updates).to.have.length(1);
    expect(formatGateAnswer({ accept: false, lines: ['a', 'b'], passes: [] })).to.equal('reject\na\nb\n');
  });

  it('answers 400 with the reason for a malformed body', async () => {
    const bad = await answerGate(Buffer.from('greengate-gate 1\nnonsense\n'), lookup);
    expect(bad).to.deep.include({ status: 400, request: null, verdict: null });
    expect(bad.text).to.equal('greengate: bad gate request: unknown line "nonsense"\n');
  });

  it('answers a push over a cap with a 200 reject, so onUnreachable=allow cannot let it through', async () => {
    const big = await answerGate(Buffer.alloc(5 * 1024 * 1024, 0x61), lookup);
    expect(big.status).to.equal(200);
    expect(big.text).to.match(/^reject\ngreengate: push refused: push too big for the gate/);
    expect(big.verdict?.accept).to.equal(false);
  });
});

describe('gate/rules refuseInvalidPipelines', () => {
  const accepted = { accept: true, lines: ['greengate: main: tree open, accepted'], passes: [] };
  it('refuses an accepted push whose gated head has a pipeline problem, every line of it told', () => {
    const v = refuseInvalidPipelines(accepted, [{ ref: 'refs/heads/main', sha: CULPRIT, message: '.greengate.yml:3:5: a\n.greengate.yml:4:5: b' }]);
    expect(v.accept).to.equal(false);
    expect(v.passes).to.deep.equal([]);
    expect(v.lines).to.deep.equal([
      'greengate: main: push refused: the pipeline file at c0ffee1 cannot run — fix it and push again:',
      'greengate:   .greengate.yml:3:5: a', 'greengate:   .greengate.yml:4:5: b',
      'greengate: push refused (a push lands whole or not at all): refs/heads/main']);
  });
  it('leaves a verdict without problems, or an already refused one, as it was', () => {
    expect(refuseInvalidPipelines(accepted, [])).to.equal(accepted);
    const refused = { accept: false, lines: ['x'], passes: [] };
    expect(refuseInvalidPipelines(refused, [{ ref: 'refs/heads/main', sha: CULPRIT, message: 'm' }])).to.equal(refused);
  });
});
