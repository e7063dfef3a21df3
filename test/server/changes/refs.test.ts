import { expect } from 'chai';
import { pino } from 'pino';
import { RefChanges, classifyRef } from '../../../server/changes/refs.js';
import { GgError } from '../../../server/errors.js';
import { ZERO_SHA } from '../../../server/git.js';
import { Repo, git, pollUntil, tempHome } from '../../helpers.js';
import { builder, config, pipeline, type Pipeline } from '../memory.js';

// The real store (in memory), intake and a real bare repository; reports come from the test as the
// hook, the watcher and the start-up scan would send them.

describe('changes/refs: ref updates from the hook, the watcher and the scan agree', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let p: Pipeline;
  let changes: RefChanges;
  let seen: string[];

  beforeEach(() => {
    home = tempHome('gg-refs-');
    repo = new Repo(home.dir);
    p = pipeline(config({ path: repo.bare, builders: [builder({ tests: null })] }));
    seen = [];
    changes = new RefChanges(p.store, p.cfg, p.intake, pino({ level: 'silent' }),
      (name, ref, sha) => seen.push(`${name} ${ref} ${sha.slice(0, 7)}`));
  });
  afterEach(async () => {
    await changes.close();
    p.close();
    home.cleanup();
  });

  const head = (ref = 'refs/heads/main') => p.store.repos.refHead(p.repoId, ref);
  const blame = (id: number) => p.store.builds.blamelist(id).map((c) => c.subject);
  function pushed(files: Record<string, string>, message: string, refspec = 'HEAD:refs/heads/main'): string {
    const sha = repo.commit(files, message);
    expect(repo.push(refspec).ok).to.equal(true);
    return sha;
  }

  it('classifies branch and try refs, and nothing else', () => {
    expect(classifyRef('refs/heads/main')).to.deep.equal({ kind: 'branch', branch: 'main' });
    expect(classifyRef('refs/heads/feature/cart')).to.deep.equal({ kind: 'branch', branch: 'feature/cart' });
    expect(classifyRef('refs/try/42')).to.deep.equal({ kind: 'try', branch: '42' });
    for (const ref of ['refs/tags/v1', 'refs/notes/commits', 'main', 'refs/heads/a..b', 'refs/heads/x.lock']) expect(classifyRef(ref), ref).to.equal(null);
  });

  it('refuses a malformed update before recording anything, with a catalogued code', async () => {
    const sha = pushed({ 'a.txt': 'a' }, 'first');
    const caught = (fn: () => unknown) => { try { fn(); } catch (err) { return err; } return null; };
    const badSha = caught(() => changes.notice('shop', [{ old: ZERO_SHA, new: 'HEAD', ref: 'refs/heads/main' }], 'hook', 'ada'));
    expect(badSha).to.be.instanceOf(GgError).and.to.include({ code: 'GG_BAD_SHA' });
    const badRef = caught(() => changes.notice('shop', [{ old: ZERO_SHA, new: sha, ref: 'main' }], 'hook', 'ada'));
    expect(badRef).to.be.instanceOf(GgError).and.to.include({ code: 'GG_BAD_REF' });
    expect(head()).to.equal(null);
  });

  it('records a new head as a change with its builds; the same update from another path is a no-op', async () => {
    const sha = pushed({ 'a.txt': 'a' }, 'first');
    const [first] = await changes.notice('shop', [{ old: ZERO_SHA, new: sha, ref: 'refs/heads/main' }], 'hook', 'ada');
    expect(first.ref).to.equal('refs/heads/main');
    expect(first.change).to.be.a('number');
    expect(first.builds).to.have.length(1);
    expect(p.store.builds.get(first.builds[0])).to.include({ sha, branch: 'main', kind: 'branch' });
    expect(head()).to.equal(sha);
    expect(seen).to.deep.equal([`shop refs/heads/main ${sha.slice(0, 7)}`]);
    const [again] = await changes.notice('shop', [{ old: ZERO_SHA, new: sha, ref: 'refs/heads/main' }], 'watch', null);
    expect(again).to.deep.equal({ ref: 'refs/heads/main', builds: [], skipped: 'already seen' });
    expect(await changes.scan('shop')).to.deep.equal([]);
    expect(p.store.builds.count()).to.equal(1);
    expect(seen).to.have.length(1);
  });

  it('takes two reports of one update at the same time once (serialized per repository)', async () => {
    const sha = pushed({ 'a.txt': 'a' }, 'first');
    const u = [{ old: ZERO_SHA, new: sha, ref: 'refs/heads/main' }];
    const [a, b] = await Promise.all([changes.notice('shop', u, 'hook', 'ada'), changes.scan('shop', 'watch')]);
    expect([...a, ...b].flatMap((r) => r.builds)).to.have.length(1);
    expect(p.store.builds.count()).to.equal(1);
  });

  it('builds the blamelist from the head recorded before, whatever old head the reporter claims', async () => {
    const c1 = pushed({ 'a.txt': 'a' }, 'first');
    const [one] = await changes.notice('shop', [{ old: ZERO_SHA, new: c1, ref: 'refs/heads/main' }], 'hook', 'ada');
    p.store.builds.finish(one.builds[0], 'passed', null, Date.now()); // so the next push makes a new build, not a join
    const c2 = pushed({ 'b.txt': 'b' }, 'second');
    const [two] = await changes.notice('shop', [{ old: ZERO_SHA, new: c2, ref: 'refs/heads/main' }], 'api', null);
    expect(two.builds).to.have.length(1);
    expect(blame(two.builds[0])).to.deep.equal(['second']);
  });

  it('records deletions and tags without building', async () => {
    const sha = pushed({ 'a.txt': 'a' }, 'first');
    git(repo.work, 'tag', 'v1');
    const out = await changes.notice('shop', [
      { old: ZERO_SHA, new: sha, ref: 'refs/tags/v1' },
      { old: ZERO_SHA, new: sha, ref: 'refs/heads/gone' },
    ], 'hook', 'ada');
    expect(out[0]).to.deep.equal({ ref: 'refs/tags/v1', builds: [], skipped: 'not a branch or try ref' });
    expect(head('refs/tags/v1')).to.equal(sha);
    const [deleted] = await changes.notice('shop', [{ old: sha, new: ZERO_SHA, ref: 'refs/heads/gone' }], 'hook', 'ada');
    expect(deleted).to.deep.equal({ ref: 'refs/heads/gone', builds: [], skipped: 'deleted' });
    expect(head('refs/heads/gone')).to.equal(null);
    expect(p.store.builds.count(), 'only refs/heads/gone\'s first head built').to.equal(1);
  });

  it('answers the hook once the update is recorded, with the builds still to come', async () => {
    const sha = pushed({ 'a.txt': 'a' }, 'first');
    const [early] = await changes.notice('shop', [{ old: ZERO_SHA, new: sha, ref: 'refs/heads/main' }], 'hook', 'ada', { answerWhenRecorded: true });
    expect(early.change).to.be.a('number');
    expect(head()).to.equal(sha);
    await pollUntil(() => p.store.builds.count() === 1, 'the build to be created after the answer', 5000);
  });

  it('on first sight of a repository builds only its gated branches; later scans build every new head', async () => {
    const main = pushed({ 'a.txt': 'a' }, 'on main');
    const side = pushed({ 'b.txt': 'b' }, 'on a side branch', 'HEAD:refs/heads/side');
    const first = await changes.scan('shop');
    expect(first.map((r) => r.ref)).to.deep.equal(['refs/heads/main']);
    expect(head('refs/heads/side'), 'seen, not built').to.equal(side);
    expect(p.store.builds.list({ repoId: p.repoId, limit: 10 }).map((b) => b.sha)).to.deep.equal([main]);
    const next = pushed({ 'c.txt': 'c' }, 'more on side', 'HEAD:refs/heads/side');
    const later = await changes.scan('shop');
    expect(later.map((r) => [r.ref, r.builds.length])).to.deep.equal([['refs/heads/side', 1]]);
    expect(head('refs/heads/side')).to.equal(next);
  });

  it('watches the bare repository: a push no hook reported is taken in', async () => {
    await changes.scan('shop');
    changes.watch();
    // chokidar says 'ready' before every watch is set, so a push right after it can go unseen: push again
    // (a new commit each time) until the watcher takes one in; it must within the deadline.
    let latest = '';
    let n = 0;
    await pollUntil(() => {
      if (latest && head() === latest) return true;
      latest = pushed({ 'a.txt': String(++n) }, `pushed behind the hooks' back ${n}`);
      return false;
    }, 'the watcher to see a new head', 10_000, 500);
    await pollUntil(() => p.store.builds.count() >= 1, 'its build', 5000);
    expect(seen.at(-1)).to.equal(`shop refs/heads/main ${latest.slice(0, 7)}`);
  });
});
