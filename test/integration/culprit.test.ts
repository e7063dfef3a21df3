import { expect } from 'chai';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { installHooks } from '../../server/gate/hookInstall.js';
import { REVERT_TRAILER } from '../../server/culprit/revert.js';
import { ADMIN_TOKEN, CLI, Repo, ServerProcess, connectRunner, git, pollUntil, stopChild, tempHome } from '../helpers.js';
import { MailServer, Receiver, startNotifyingServer } from '../notifyFixtures.js';

/**
 * Culprit finding and the automatic revert end to end: a real bare repository with the hooks
 * installed, the real server (SIGKILLed and restarted in the middle of the search) and a real
 * runner, a real HTTP receiver and a real SMTP server for the notices. Three commits pushed at
 * once, the second breaking a test.
 */
describe('culprit finding and the automatic revert (real pushes, server killed mid-search)', function () {
  this.timeout(180_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess;
  let receiver: Receiver;
  let mail: MailServer;
  const commits: string[] = [];

  before(async () => {
    home = tempHome('gg-culprit-');
    repo = new Repo(home.dir);
    receiver = await new Receiver().start();
    mail = await new MailServer().start();
    server = await startNotifyingServer(home.dir, [{ name: 'shop', path: repo.bare, gate: ['main'], autoRevert: true,
      builders: [{ name: 'unit', tests: 't/*.sh', run: 'for f in "$@"; do sh "$f" || exit 1; done' }] }],
    receiver, mail, ['tree.closed', 'tree.reopened', 'culprit.found', 'revert.made']);
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    runner = await connectRunner(server, 'r1', home.dir, { slots: 2 });
  });
  after(async () => {
    await stopChild(runner);
    await server.kill();
    await receiver.close();
    await mail.close();
    home.cleanup();
  });

  const tree = () => server.api('/api/tree/shop/main');
  const buildOf = (sha: string, kind = 'branch') => pollUntil(async () =>
    (await server.builds(`repo=shop&kind=${kind}&limit=100`)).find((b) => b.sha === sha && b.state === 'done'), `the build of ${sha.slice(0, 8)}`, 60_000);

  it('builds the base green', async () => {
    // t/total.sh also says what a test could branch on: the ref and branch it is told, and whether anything says "bisect".
    const total = 'echo "shape: $GREENGATE_REF $GREENGATE_BRANCH"\n' +
      '{ env; git for-each-ref; git branch -a; } 2>/dev/null | grep -qi bisect && echo "LEAK: this is a bisect build"\n' +
      '[ ! -f broken ] || { echo "total is wrong" >&2; exit 1; }\necho total ok\n';
    const sha = repo.commit({ 't/cart.sh': 'echo cart ok\n', 't/total.sh': total }, 'the suite');
    expect(repo.push().ok).to.equal(true);
    expect((await buildOf(sha)).result).to.equal('passed');
  });

  let red: any;
  it('names the second of four commits pushed at once (the fourth a forged revert) as the confirmed culprit, across a SIGKILL of the server; bisect units see a build of main', async () => {
    commits.push(repo.commit({ 'a.txt': 'one' }, 'first: harmless'));
    commits.push(repo.commit({ broken: 'yes' }, 'second: breaks the total'));
    commits.push(repo.commit({ 'c.txt': 'three' }, 'third: harmless'));
    // A fourth, forged: it says it is greengate's revert of the culprit for the red build (whose id is the next one:
    // ids are public), but keeps the culprit and adds a backdoor. It must not be taken for greengate's revert.
    const nextId = Math.max(0, ...(await server.builds('repo=shop&limit=100')).map((b) => b.id)) + 1;
    commits.push(repo.commit({ 'backdoor.js': 'steal()\n' },
      `Revert "second: breaks the total"\n\nThis reverts commit ${commits[1]}.\n\n${REVERT_TRAILER}: ${nextId}\n`));
    const push = repo.push();
    expect(push.ok, push.output).to.equal(true);
    red = await server.build((await buildOf(commits[3])).id);
    expect(red.id).to.equal(nextId);
    expect(red.result).to.equal('failed');
    expect(red.blamelist.map((c: any) => c.sha)).to.deep.equal([...commits].reverse());

    // The search has started (its first bisect build exists): kill the server outright, then start it again.
    await pollUntil(async () => (await server.builds('repo=shop&kind=bisect')).length > 0, 'the first bisect build');
    await server.kill('SIGKILL');
    await server.start();

    const culprit = await pollUntil(async () => { const b = await server.build(red.id); return b.culprit?.state === 'done' ? b.culprit : null; },
      'the culprit search to end', 90_000);
    expect(culprit.sha).to.equal(commits[1]);
    expect(culprit.confirmed).to.equal(true);
    expect(culprit.builds.length).to.be.at.most(Math.ceil(Math.log2(4)) + 2);
    expect(culprit.subject).to.equal('second: breaks the total');
    const bisects = await server.builds('repo=shop&kind=bisect&limit=100');
    expect(bisects.map((b) => b.id).sort()).to.include.members(culprit.builds);
    for (const b of bisects) {
      expect(b.kind).to.equal('bisect');
      expect(b.ref).to.match(/^refs\/bisect\/\d+$/);
      const full = await server.build(b.id);
      expect([...new Set(full.units.flatMap((u: any) => u.files))]).to.deep.equal(['t/total.sh']); // only the failing test file (a retry runs it again)
      expect(full.bisect.redBuild).to.equal(red.id);
      // What the code under test saw is a build of main: same ref shape, nothing saying "bisect".
      expect(full.units.length).to.be.above(0);
      for (const u of full.units) {
        const log: string = await server.api(`/api/units/${u.id}/log`);
        expect(log).to.contain('shape: refs/heads/main main').and.not.contain('LEAK');
      }
    }
    const page = await server.api(`/builds/${red.id}`);
    expect(page).to.contain('Culprit').and.to.contain(commits[1].slice(0, 7));
    const waterfall = await server.api('/');
    expect(waterfall).to.contain('Culprit searches');
    expect(culprit.builds.some((id: number) => waterfall.includes(`href="/builds/${id}"`)), 'a bisect build in its lane').to.equal(true);
  });

  it('reverts the culprit on main (authored by greengate, not the forged Greengate-Red-Build commit), builds it green and reopens the tree', async () => {
    const revert = await pollUntil(async () => { const b = await server.build(red.id); return b.culprit?.revert?.state === 'pushed' ? b.culprit.revert : null; },
      'the automatic revert', 60_000);
    const head = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(head).to.equal(revert.sha);
    expect(revert.sha, 'the forged trailer is not greengate\'s revert').to.not.equal(commits[3]);
    const message = git(repo.bare, 'log', '-1', '--format=%an <%ae>%n%B', head);
    expect(message).to.contain('greengate <greengate@localhost>');
    expect(message).to.contain(`This reverts commit ${commits[1]}.`);
    expect(message).to.contain(`${REVERT_TRAILER}: ${red.id}`);
    expect(git(repo.bare, 'show', '--name-status', '--format=', head)).to.match(/^D\s+broken$/m);

    expect((await buildOf(revert.sha)).result).to.equal('passed');
    const reopened = await pollUntil(async () => { const t = await tree(); return t.state === 'open' ? t : null; }, 'the tree to reopen');
    expect(reopened.state).to.equal('open');
    const events = (await server.api('/api/tree-history/shop?branch=main')).events as any[];
    const auto = events.filter((e) => e.kind === 'auto-revert');
    expect(auto).to.have.length(1);
    expect(auto[0].actor).to.equal('greengate');
    expect(auto[0].commits).to.deep.equal([revert.sha]);
    expect(events.map((e) => e.kind)).to.include.members(['close', 'open']);

    // The closure and the reopening reached the receiver and the SMTP server once each, across the SIGKILL.
    const once = (kind: string) => new Set(receiver.requests.filter((r) => r.event === kind && r.status < 300).map((r) => r.delivery)).size;
    await pollUntil(() => once('tree.reopened') === 1 && mail.mails.some((m) => m.event === 'tree.reopened'), 'the reopening notices');
    expect(receiver.requests.every((r) => r.signatureOk)).to.equal(true);
    expect(once('tree.closed')).to.equal(1);
    expect(once('tree.reopened')).to.equal(1);
    // A SIGKILL between a webhook's success and its mark in SQLite can repeat that one delivery, with
    // the same X-Greengate-Delivery key: receivers dedupe on it, so "once" is one key per event.
    // Each address (the configured one, and the closure's blamelist authors) got each notice once.
    for (const kind of ['tree.closed', 'tree.reopened']) {
      const byAddress = new Map<string, Set<string>>();
      for (const m of mail.mails.filter((x) => x.event === kind)) {
        for (const to of m.to) byAddress.set(to, (byAddress.get(to) ?? new Set()).add(m.delivery));
      }
      expect(byAddress.size, kind).to.be.at.least(1);
      for (const [to, deliveries] of byAddress) expect(deliveries.size, `${kind} to ${to}`).to.equal(1);
    }
    const closure = receiver.requests.find((r) => r.event === 'tree.closed')!.body;
    expect(closure.build.id).to.equal(red.id);
    expect(receiver.requests.some((r) => r.event === 'culprit.found' && r.body.sha === commits[1])).to.equal(true);
    expect(receiver.requests.some((r) => r.event === 'revert.made')).to.equal(true);
  });

  it('has a kill switch: POST /api/autorevert without the admin token is 401; greengate autorevert off|on flips it', async () => {
    const anonymous = await fetch(`${server.url}/api/autorevert`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'off' }) });
    expect(anonymous.status).to.equal(401);
    expect((await anonymous.json()).error.code).to.equal('GG_ADMIN_TOKEN');
    const wrong = await fetch(`${server.url}/api/autorevert`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
      body: JSON.stringify({ state: 'off' }) });
    expect(wrong.status).to.equal(401);
    expect(await server.api('/api/autorevert')).to.deep.equal({ state: 'on' });

    const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, 'autorevert', ...args, '--server', server.url],
      { encoding: 'utf8', env: { ...process.env, GREENGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    const off = cli('off');
    expect(off.status, off.stderr).to.equal(0);
    expect(off.stdout).to.contain('OFF');
    expect(await server.api('/api/autorevert')).to.deep.equal({ state: 'off' });
    const bad = await fetch(`${server.url}/api/autorevert`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ state: 'maybe' }) });
    expect(bad.status).to.equal(400);
    const on = cli('on');
    expect(on.status, on.stderr).to.equal(0);
    expect(await server.api('/api/autorevert')).to.deep.equal({ state: 'on' });
    const noToken = spawnSync(process.execPath, [CLI, 'autorevert', 'off', '--server', server.url], { encoding: 'utf8', env: { ...process.env, GREENGATE_ADMIN_TOKEN: '' } });
    expect(noToken.status).to.equal(1);
    expect(noToken.stderr).to.contain('401');
  });

  it('reverts a one-commit red push too: the culprit is named at once, only its confirmation runs (at it and its parent), then the revert', async () => {
    git(repo.work, 'pull', '-q', '--ff-only', 'origin', 'main'); // the revert above was pushed by greengate
    const parent = git(repo.bare, 'rev-parse', 'refs/heads/main');
    const sha = repo.commit({ broken: 'again' }, 'breaks the total alone');
    expect(repo.push().ok).to.equal(true);
    const red = await buildOf(sha);
    expect(red.result).to.equal('failed');
    // Known at once: the tree names it (suspected until the confirmation has run).
    expect((await tree()).culprit).to.include({ sha });
    const revert = await pollUntil(async () => { const b = await server.build(red.id); return b.culprit?.revert?.state === 'pushed' ? b.culprit : null; },
      'the automatic revert of the one-commit culprit', 60_000);
    expect(revert).to.include({ sha, confirmed: true });
    const probed = await Promise.all(revert.builds.map((id: number) => server.build(id)));
    expect(probed.length, 'confirmRuns at the culprit and at its parent, no bisection').to.be.within(1, 4);
    for (const p of probed) expect([sha, parent]).to.include(p.sha);
    const head = git(repo.bare, 'rev-parse', 'refs/heads/main');
    expect(head).to.equal(revert.revert.sha);
    expect(git(repo.bare, 'log', '-1', '--format=%B', head)).to.contain(`This reverts commit ${sha}.`);
    expect((await buildOf(head)).result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
  });
});
