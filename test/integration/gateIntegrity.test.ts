import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { hookSecretPath, readHookSecret } from '../../server/gate/hookSecret.js';
import { CLI, Repo, ServerProcess, git, gitEnv, pollUntil, stopChild, tempHome } from '../helpers.js';
import { CHECK, startGatedShop } from './gatedShop.js';

/**
 * Attacks on the gate through its public interface (HTTP with curl-like requests, git push),
 * against the real server, real hooks and a real runner: nobody can fake the gate.
 */
describe('gate integrity: the server believes git and only the hooks may speak for it', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess;
  let green = '';
  let red = '';
  let redBuild: any;

  before(async () => {
    home = tempHome();
    ({ repo, server, runner } = await startGatedShop(home.dir, { gated: ['main'] }));
  });
  after(async () => {
    await stopChild(runner);
    await server.kill();
    home.cleanup();
  });

  const secret = () => readHookSecret(repo.bare)!;
  const tree = () => server.api('/api/tree/shop/main');
  const history = async () => (await server.api('/api/tree-history/shop?branch=main')).events as any[];
  const passes = async () => (await server.api('/api/gate-passes/shop')).passes as any[];
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body });
  async function built(sha: string): Promise<any> {
    return pollUntil(async () => (await server.builds('repo=shop&limit=200')).find((b) => b.sha === sha && b.state === 'done'),
      `the build of ${sha.slice(0, 8)}`, 30_000);
  }
  /** Intake works one repository at a time: once a later try push is built, every earlier notice was handled. */
  async function drainIntake(tag: string): Promise<void> {
    const sha = repo.commit({ [`drain-${tag}.txt`]: tag }, `drain ${tag}`);
    expect(repo.push(`HEAD:refs/try/drain-${tag}`).ok).to.equal(true);
    await built(sha);
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
  }
  async function metric(name: string): Promise<number> {
    const text = await server.api<string>('/metrics');
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('a green build, then a red one that closes the tree (the scene)', async () => {
    green = repo.commit({ 'check.sh': CHECK }, 'add the check');
    expect(repo.push().ok).to.equal(true);
    expect((await built(green)).result).to.equal('passed');
    red = repo.commit({ broken: 'yes' }, 'break the cart');
    expect(repo.push().ok).to.equal(true);
    redBuild = await built(red);
    expect(redBuild.result).to.equal('failed');
    await pollUntil(async () => (await tree()).state === 'closed', 'the tree to close');
  });

  it('POST /api/changes without the hook secret answers 401 and builds nothing', async () => {
    const lie = `${red} ${green} refs/heads/main\n`;
    for (const headers of [{}, { 'x-greengate-hook-secret': 'f'.repeat(64) }] as Record<string, string>[]) {
      const res = await post('/api/changes?repo=shop', lie, headers);
      expect(res.status).to.equal(401);
      expect((await res.json()).error.code).to.equal('GG_HOOK_SECRET');
    }
    const json = await fetch(`${server.url}/api/changes`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-greengate-source': 'api' },
      body: JSON.stringify({ repo: 'shop', updates: [{ old: red, new: green, ref: 'refs/heads/main' }] }) });
    expect(json.status).to.equal(401);
    expect(await metric('greengate_changes_rejected_total{reason="unauthenticated"}')).to.equal(3);
  });

  it('with the hook secret, a notice that main moved back to the green commit is dropped: git says red, the tree stays closed', async () => {
    const before = (await server.builds('repo=shop&branch=main&limit=200')).length;
    const res = await post('/api/changes?repo=shop', `${red} ${green} refs/heads/main\n`, { 'x-greengate-hook-secret': secret() });
    expect(res.status).to.equal(202);
    const body = await res.json();
    expect(body.accepted).to.deep.equal([]);
    expect(body.dropped).to.deep.equal([{ ref: 'refs/heads/main', claimed: green, git: red }]);
    await drainIntake('a');
    const builds = await server.builds('repo=shop&branch=main&limit=200');
    expect(builds.length).to.equal(before);
    expect(builds.filter((b) => b.sha === green)).to.have.length(1); // only the real, earlier build
    const t = await tree();
    expect(t).to.include({ state: 'closed' });
    expect(t.build.id).to.equal(redBuild.id);
    expect((await history()).filter((e) => e.kind === 'open')).to.have.length(0);
    expect(await metric('greengate_changes_rejected_total{reason="disagrees_with_git"}')).to.equal(1);
    const log = server.output;
    expect(log).to.contain('change notice disagrees with git');
  });

  it('an ordinary push is still refused afterwards: the lie changed nothing', () => {
    repo.commit({ 'x.txt': 'x' }, 'an ordinary change');
    const push = repo.push();
    expect(push.ok, push.output).to.equal(false);
    expect(push.output).to.match(/CLOSED/);
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1');
  });

  it('POST /api/gate without the hook secret, with a made-up commit and a bypass: 401 and nothing recorded', async () => {
    const madeUp = 'e'.repeat(40);
    const body = `greengate-gate 1\npusher mallory\noption greengate.bypass=trust me\nupdate ${red} ${madeUp} refs/heads/main\nend\n`;
    const res = await post('/api/gate/shop', body);
    expect(res.status).to.equal(401);
    expect((await res.json()).error.code).to.equal('GG_HOOK_SECRET');
    expect((await history()).filter((e) => e.kind === 'bypass')).to.deep.equal([]);
    expect(await passes()).to.deep.equal([]);
    expect(await metric('greengate_gate_unauthenticated_total')).to.equal(1);

    // Even with the secret, a verdict for a commit git never gets is only pending: it never reaches the history.
    const authed = await post('/api/gate/shop', body, { 'x-greengate-hook-secret': secret() });
    expect(authed.status).to.equal(200);
    expect(authed.headers.get('x-greengate-gated')).to.equal('main');
    expect(await authed.text()).to.match(/^accept\n/);
    expect((await passes()).map((p) => [p.kind, p.newSha, p.state])).to.deep.equal([['bypass', madeUp, 'pending']]);
    await drainIntake('b');
    expect((await history()).filter((e) => e.kind === 'bypass')).to.deep.equal([]);
  });

  it('a push refused because the hook timed out leaves no pass record; the retried push is recorded once', async () => {
    execFileSync('git', ['revert', '--no-edit', red], { cwd: repo.work, env: gitEnv(), stdio: 'ignore' });
    const revert = git(repo.work, 'rev-parse', 'HEAD');
    git(repo.bare, 'config', 'greengate.timeout', '1');
    server.child.kill('SIGSTOP'); // the server is too slow: the hook gives up after 1 s
    let refused: { ok: boolean; output: string };
    try {
      refused = repo.push();
    } finally {
      server.child.kill('SIGCONT');
    }
    expect(refused.ok, refused.output).to.equal(false);
    expect(refused.output).to.contain('no verdict from');
    expect(git(repo.bare, 'rev-parse', 'main')).to.equal(red);
    // The server answers the request late: by then git has thrown the push's quarantine away, so the
    // revert cannot be proven and nothing is recorded, not even a pending pass.
    await drainIntake('c');
    expect((await history()).filter((e) => e.kind === 'revert')).to.deep.equal([]);
    expect((await passes()).filter((p) => p.newSha === revert && p.state === 'landed')).to.deep.equal([]);

    git(repo.bare, 'config', 'greengate.timeout', '10');
    const retried = repo.push();
    expect(retried.ok, retried.output).to.equal(true);
    const recorded = await pollUntil(async () => (await history()).filter((e) => e.kind === 'revert'), 'the revert in the history');
    expect(recorded.map((e) => e.commits)).to.deep.equal([[revert]]);
    expect(recorded[0].actor).to.equal('ada');
    const mine = (await passes()).filter((p) => p.newSha === revert).map((p) => p.state);
    expect(mine[0]).to.equal('landed'); // newest first: the retry landed; the timed-out attempt, if it was answered at all, did not
    expect(mine.slice(1).every((state) => state === 'dropped')).to.equal(true);
    expect((await built(revert)).result).to.equal('passed');
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
  });

  it('a secret file others can read is not trusted: gated pushes are refused even with onUnreachable allow', async () => {
    const file = hookSecretPath(repo.bare);
    chmodSync(file, 0o644);
    git(repo.bare, 'config', 'greengate.onUnreachable', 'allow');
    try {
      repo.commit({ 'w.txt': 'loose secret' }, 'pushed while the secret is readable by all');
      const push = repo.push();
      expect(push.ok, push.output).to.equal(false);
      expect(push.output).to.contain('refused this hook\'s secret (HTTP 401)');
      expect(push.output).to.contain('can be read by other users');
      const feature = repo.push('HEAD:refs/heads/feature-w');
      expect(feature.ok, feature.output).to.equal(true);
    } finally {
      chmodSync(file, 0o600);
      git(repo.bare, 'config', 'greengate.onUnreachable', 'reject');
    }
    const again = repo.push();
    expect(again.ok, again.output).to.equal(true);
  });

  it('`greengate hook install` again keeps the secret and learns the gated branches from the server', () => {
    const before = secret();
    git(repo.bare, 'config', '--unset', 'greengate.gated');
    const out = execFileSync(process.execPath, [CLI, 'hook', 'install', repo.bare, '--server', server.url, '--repo', 'shop'], { encoding: 'utf8' });
    expect(out).to.contain('gated branches (from the server): main');
    expect(git(repo.bare, 'config', 'greengate.gated')).to.equal('main');
    expect(secret()).to.equal(before);
    expect(out).not.to.contain(before);
  });

  it('while the server is down, a push to an ungated branch is accepted and one to a gated branch refused', async () => {
    expect(git(repo.bare, 'config', 'greengate.gated')).to.equal('main');
    await server.kill();
    repo.commit({ 'd.txt': 'down' }, 'while the server is down');
    const feature = repo.push('HEAD:refs/heads/feature-d');
    expect(feature.ok, feature.output).to.equal(true);
    expect(feature.output).to.contain('updates no gated branch');
    const main = repo.push();
    expect(main.ok, main.output).to.equal(false);
    expect(main.output).to.contain('onUnreachable');
  });
});
