import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { RunningServer } from '../../../server/main.js';
import { Repo, pollUntil, startRunner, stopChild, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';

/**
 * The culprit finder in the real server (in-process, so its notifications can be read) with a
 * real runner process and real pushes (no hooks: the ref watcher takes them in). Which red builds
 * start a search, and what it tells the notifier.
 */
describe('culprit finder: which red builds are searched, and what the notifier hears', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: RunningServer;
  let runner: ChildProcess;
  const notices: { kind: string; payload: Record<string, any>; to: string[] }[] = [];

  before(async () => {
    home = tempHome('gg-finder-');
    repo = new Repo(home.dir);
    const config = shopConfig(home.dir, repo, { shop: { gate: ['main'],
      builders: [{ name: 'unit', tests: 't/*.sh', run: 'for f in "$@"; do sh "$f" || exit 1; done' }] } });
    server = await startShopServer(home.dir, repo, { config, notify: (kind, payload, to) => notices.push({ kind, payload, to }) });
    // Fetching like a remote runner: bisect builds need commits that are no branch's tip.
    runner = startRunner(server.url, 'r1', home.dir, { slots: 2, env: { GREENGATE_RUNNER_FETCH: 'always' } });
    await pollUntil(() => server.connectedRunners().length === 1, 'the runner');
  });
  after(async () => {
    await stopChild(runner);
    await server.close();
    home.cleanup();
  });

  const CHECK = '[ ! -f broken ] || { echo broken >&2; exit 1; }\n';
  const built = (sha: string) => pollUntil(() => server.store.builds.list({ kind: 'branch', limit: 50 }).find((b) => b.sha === sha && b.state === 'done'),
    `the build of ${sha.slice(0, 8)}`, 60_000);

  it('names the one commit of a new breakage at once, suspected, without a bisect build or a notice of its own', async () => {
    const base = repo.commit({ 't/ok.sh': 'echo ok\n', 't/check.sh': CHECK }, 'suite');
    expect(repo.push().ok).to.equal(true);
    expect((await built(base)).result).to.equal('passed');
    const one = repo.commit({ broken: '1' }, 'breaks alone');
    expect(repo.push().ok).to.equal(true);
    const red = await built(one);
    expect(red.result).to.equal('failed');
    const search = server.store.culprits.forBuild(red.id)!;
    expect(search).to.include({ state: 'done', culpritSha: one, confirmed: false, probes: 0 });
    expect(server.store.culprits.probes(search.id), 'no bisect build').to.deep.equal([]);
    expect(server.store.builds.list({ kind: 'bisect', limit: 10 })).to.deep.equal([]);
    expect(notices, 'the closure names it and mails its author: no culprit notice besides').to.deep.equal([]);
    expect(server.store.culprits.revertOf(search.id), 'a suspected culprit is never reverted').to.equal(undefined);
  });

  it('names the third of four commits, within ⌈log₂ 4⌉ + 2 bisect builds, and tells its author once', async () => {
    rmSync(`${repo.work}/broken`, { force: true });
    const green = repo.commit({}, 'unbreak');
    expect(repo.push().ok).to.equal(true);
    expect((await built(green)).result).to.equal('passed');
    const shas = [
      repo.commit({ 'a.txt': '1' }, 'one'),
      repo.commit({ 'b.txt': '2' }, 'two'),
      repo.commit({ broken: '3' }, 'three breaks it'),
      repo.commit({ 'd.txt': '4' }, 'four'),
    ];
    expect(repo.push().ok).to.equal(true);
    const red = await built(shas[3]);
    expect(red.result).to.equal('failed');
    const search = await pollUntil(() => { const s = server.store.culprits.forBuild(red.id); return s?.state === 'done' ? s : null; },
      'the search to end', 60_000);
    expect(search).to.include({ culpritSha: shas[2], confirmed: true });
    expect(server.store.culprits.probes(search.id).length).to.be.at.most(Math.ceil(Math.log2(4)) + 2);
    expect(server.store.culprits.revertOf(search.id), 'no autoRevert: nothing reverted').to.equal(undefined);
    const found = notices.filter((n) => n.kind === 'culprit.found');
    expect(found).to.have.length(1);
    expect(found[0].to).to.deep.equal(['ada@example.com']);
    expect(found[0].payload).to.include({ repo: 'shop', branch: 'main', build: red.id, sha: shas[2], confirmed: true, subject: 'three breaks it' });
    expect(server.store.tree.get(red.repoId, 'main')!.state, 'bisect builds never touch the tree').to.equal('closed');
  });

  it('searches nothing for a red build whose base was red already', async () => {
    const before = server.store.builds.list({ kind: 'bisect', limit: 100 }).length;
    const shas = [repo.commit({ 'e.txt': '5' }, 'five'), repo.commit({ 'f.txt': '6' }, 'six')];
    expect(repo.push().ok).to.equal(true);
    const red = await built(shas[1]);
    expect(red.result).to.equal('failed');
    expect(server.store.culprits.forBuild(red.id)).to.equal(undefined);
    expect(server.store.builds.list({ kind: 'bisect', limit: 100 }).length).to.equal(before);
  });
});
