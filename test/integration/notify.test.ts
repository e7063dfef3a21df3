import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome } from '../helpers.js';
import { MailServer, Receiver, startNotifyingServer } from '../notifyFixtures.js';

/**
 * Alerting end to end: a real server and runner, a real HTTP receiver that checks the signature,
 * a real SMTP server. Each event is delivered once — through refusals, and through a SIGKILL.
 */
describe('notifications (real server, runner, HTTP receiver and SMTP server)', function () {
  this.timeout(180_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let receiver: Receiver;
  let mail: MailServer;
  const runners: ChildProcess[] = [];

  async function start(events?: string[]): Promise<void> {
    home = tempHome('gg-notify-');
    repo = new Repo(home.dir);
    receiver = await new Receiver().start();
    mail = await new MailServer().start();
    server = await startNotifyingServer(home.dir, [{ name: 'shop', path: repo.bare, gate: ['main'],
      builders: [{ name: 'unit', run: 'sh ./check.sh', timeout: 60 }] }], receiver, mail, events);
    runners.push(await connectRunner(server, 'r1', home.dir, { slots: 1 }));
  }

  async function push(check: string, message: string): Promise<any> {
    const before = (await server.builds('repo=shop'))[0]?.id ?? 0;
    repo.commit({ 'check.sh': check }, message);
    expect(repo.push().ok).to.equal(true);
    const b = await pollUntil(async () => (await server.builds('repo=shop')).find((x) => x.id > before), 'the push\'s build');
    return server.waitForBuild(b.id, 60_000);
  }

  const deliveries = async () => (await server.api('/api/notifications?repo=shop&limit=200')).deliveries as any[];

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => stopChild(r)));
    await server?.kill();
    await receiver?.close();
    await mail?.close();
    home?.cleanup();
  });

  it('tells a closure and a reopening once each (webhook and mail), on transitions only, through two refused attempts', async () => {
    await start(['tree.closed', 'tree.reopened', 'build.failed', 'build.fixed', 'runner.lost']);
    await push('exit 0\n', 'a green start');
    receiver.failOnly = 'tree.closed';
    receiver.failNext = 2;
    const red = await push('echo broken >&2\nexit 1\n', 'break the build');
    expect(red.result).to.equal('failed');
    const closed = await pollUntil(() => receiver.accepted('tree.closed')[0], 'the closure to reach the receiver', 30_000);
    // Refused twice, accepted on the third attempt: one delivery key for all three.
    const attempts = receiver.requests.filter((r) => r.event === 'tree.closed');
    expect(attempts.map((r) => r.status)).to.deep.equal([500, 500, 200]);
    expect(new Set(attempts.map((r) => r.delivery)).size).to.equal(1);
    expect(closed.body).to.include({ event: 'tree.closed', repo: 'shop', branch: 'main', builder: 'unit' });
    // One commit on a green base: the closure names it (culprit finding writes before the tree rule: server/pipeline.ts).
    expect(closed.body.culprit, 'the one-commit red push names its commit as the culprit').to.deep.equal({ sha: red.sha, confirmed: false, builds: [] });
    expect(closed.body.text).to.contain(`culprit: ${red.sha.slice(0, 10)} (suspected)`);
    expect(closed.body.build.id).to.equal(red.id);
    expect(closed.body.text).to.match(/^shop\/main closed: unit build \d+ failed/);
    expect(closed.body.blamelist.map((c: any) => c.email)).to.deep.equal(['ada@example.com']);
    expect(closed.body.link).to.match(new RegExp(`/builds/${red.id}$`));
    await pollUntil(() => mail.to('ada@example.com', 'tree.closed').length && mail.to('oncall@example.com', 'tree.closed').length,
      'the closure mails (the blamelist author and the configured address)');
    await pollUntil(() => receiver.accepted('build.failed').length, 'build.failed');

    const green = await push('exit 0\n', `fix the build\n\nFixes-build: ${red.id}`);
    expect(green.result).to.equal('passed');
    const reopened = await pollUntil(() => receiver.accepted('tree.reopened')[0], 'the reopening');
    expect(reopened.body.by).to.match(/every builder is green/);
    expect(reopened.body.closedForMs).to.be.a('number').above(0);
    await pollUntil(() => receiver.accepted('build.fixed').length && mail.to('oncall@example.com', 'tree.reopened').length, 'build.fixed and the reopening mail');
    expect(mail.to('ada@example.com', 'tree.reopened')).to.have.length(0); // a reopening is no one's fault

    // Red twice in a row: one closure, one build.failed (the second red build moves the closure, it is no new event).
    await push('exit 1\n', 'break it again');
    await pollUntil(() => receiver.accepted('tree.closed').length === 2 && receiver.accepted('build.failed').length === 2, 'the second closure');
    await push('exit 2\n', 'still broken');
    expect((await server.api('/api/tree/shop/main')).state).to.equal('closed');

    await stopChild(runners.shift(), 'SIGKILL');
    await pollUntil(() => receiver.accepted('runner.lost').length, 'runner.lost', 40_000);
    await pollUntil(async () => (await deliveries()).every((d) => d.state === 'sent'), 'every delivery to be marked sent');

    expect(receiver.requests.every((r) => r.signatureOk)).to.equal(true);
    const once = (event: string) => new Set(receiver.accepted(event).map((r) => r.delivery)).size;
    expect([once('tree.closed'), once('tree.reopened'), once('build.failed'), once('build.fixed'), once('runner.lost')]).to.deep.equal([2, 1, 2, 1, 1]);
    expect(receiver.accepted().length).to.equal(7);
    expect(mail.to('oncall@example.com', 'tree.closed')).to.have.length(2);
    expect(mail.to('oncall@example.com', 'tree.reopened')).to.have.length(1);
    expect(mail.mails.every((m) => m.subject.startsWith('[greengate] '))).to.equal(true);

    // The delivery log is public and shows neither the webhook's path nor the addresses nor the bodies.
    const log = await deliveries();
    const first = log.filter((d) => d.kind === 'tree.closed' && d.channel === 'webhook').at(-1);
    expect(first).to.include({ state: 'sent', attempts: 3, target: `${new URL(receiver.url).origin}/…` });
    expect(JSON.stringify(log)).to.not.contain('/hook').and.not.contain('oncall@').and.not.contain('"payload"');
    const page = await server.api<string>('/tree');
    expect(page).to.contain('Notifications').and.contain('tree.closed');
  });

  it('mails each person once per push: a red push closing the tree, and the green one reopening it (every kind configured)', async () => {
    await start(); // no events: every kind, webhook and mail
    await push('exit 0\n', 'a green start');
    const settled = () => pollUntil(async () => {
      const all = await deliveries();
      return all.every((d) => d.state === 'sent') ? all : null;
    }, 'every delivery to be sent');
    await settled();
    const before = mail.mails.length;
    const red = await push('echo broken >&2\nexit 1\n', 'break the build');
    expect(red.result).to.equal('failed');
    // The webhook still gets both events (a machine subscribes to kinds); people get one mail each.
    await pollUntil(() => receiver.accepted('tree.closed').length && receiver.accepted('build.failed').length, 'both webhooks');
    await settled();
    const perPerson = (from: number) => {
      const n: Record<string, string[]> = {};
      for (const m of mail.mails.slice(from)) for (const t of m.to) (n[t] ??= []).push(m.event);
      return n;
    };
    expect(perPerson(before), 'mails per recipient for one red push').to.deep.equal({
      'oncall@example.com': ['tree.closed'], 'ada@example.com': ['tree.closed'],
    });
    const closed = mail.to('ada@example.com', 'tree.closed')[0];
    expect(closed.subject).to.match(/shop\/main closed: unit build \d+ failed/);

    const afterRed = mail.mails.length;
    const green = await push('exit 0\n', `fix the build\n\nFixes-build: ${red.id}`);
    expect(green.result).to.equal('passed');
    await pollUntil(() => receiver.accepted('tree.reopened').length && receiver.accepted('build.fixed').length, 'both webhooks');
    await settled();
    expect(perPerson(afterRed), 'mails per recipient for the green push').to.deep.equal({ 'oncall@example.com': ['tree.reopened'] });
  });

  it('a runner stopped with SIGTERM is no runner.lost (its unit goes back to the queue); a SIGKILLed one is', async () => {
    await start(['runner.lost']);
    repo.commit({ 'check.sh': 'sleep 30\n' }, 'a long build');
    expect(repo.push().ok).to.equal(true);
    const build = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'the build');
    await pollUntil(async () => (await server.build(build.id)).units[0]?.state === 'running', 'r1 to run the unit');
    await stopChild(runners.shift(), 'SIGTERM');
    expect((await server.api('/healthz')).runners).to.equal(0);
    // The leave and its notification (if any) commit together, before the unit is requeued: no wait hides one.
    await pollUntil(async () => (await server.build(build.id)).units.some((u: any) => u.state === 'queued'), 'the unit back in the queue', 10_000);
    const all = (await server.api('/api/notifications?limit=200')).deliveries as any[]; // runner events belong to no repository
    expect(all.filter((d) => d.kind === 'runner.lost'), 'no runner.lost for a runner that stopped').to.have.length(0);

    runners.push(await connectRunner(server, 'r2', home.dir, { slots: 1 }));
    await pollUntil(async () => (await server.build(build.id)).units.some((u: any) => u.state === 'running'), 'r2 to run the unit');
    await stopChild(runners.shift(), 'SIGKILL');
    const lost = await pollUntil(() => receiver.accepted('runner.lost')[0], 'runner.lost for the SIGKILLed runner', 20_000);
    expect(lost.body.runner.name).to.equal('r2');
    expect(lost.body.units).to.have.length(1);
    expect(receiver.accepted('runner.lost')).to.have.length(1);
  });

  it('delivers a notification that was pending when the server was SIGKILLed, once, after the restart', async () => {
    await start(['tree.closed']);
    await push('exit 0\n', 'a green start');
    receiver.down = true;
    await push('exit 1\n', 'break the build');
    await pollUntil(async () => (await deliveries()).some((d) => d.channel === 'webhook' && d.state === 'pending' && d.attempts >= 1),
      'a refused attempt of the closure');
    // The mails are delivered and marked sent before the kill: only the webhook is pending. (A mail
    // killed between the SMTP server's OK and its mark would be sent again, with the same Message-ID.)
    await pollUntil(async () => (await deliveries()).filter((d) => d.channel === 'email' && d.state === 'sent').length === 2, 'the closure mails');
    await server.kill('SIGKILL');
    receiver.down = false;
    await server.start();
    await pollUntil(() => receiver.accepted('tree.closed').length, 'the closure after the restart', 30_000);
    await pollUntil(async () => (await deliveries()).every((d) => d.state === 'sent'), 'the delivery to be marked sent');
    expect(receiver.accepted('tree.closed')).to.have.length(1);
    expect(await server.api<string>('/metrics')).to.contain('greengate_notifications{state="pending"} 0');
    expect(mail.to('oncall@example.com', 'tree.closed')).to.have.length(1);
    expect(mail.to('ada@example.com', 'tree.closed')).to.have.length(1);
  });
});
