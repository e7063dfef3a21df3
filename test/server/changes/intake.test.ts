import { expect } from 'chai';
import pino from 'pino';
import { Repo, hangingGit, pollUntil, tempHome } from '../../helpers.js';
import { GIT_TIME_LIMITS, ZERO_SHA } from '../../../server/git.js';
import { RefChanges } from '../../../server/changes/refs.js';
import { builder, config, finished, pipeline, type Pipeline } from '../memory.js';

describe('changes/intake: a new head becomes builds', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let p: Pipeline;
  let queued: number;
  beforeEach(() => {
    home = tempHome('gg-intake-');
    repo = new Repo(home.dir);
    queued = 0;
  });
  afterEach(() => { p?.close(); home.cleanup(); });

  function start(builders = [builder()]): void {
    p = pipeline(config({ path: repo.bare, builders }));
    p.intake.onQueued = () => { queued++; };
  }
  async function notice(old: string, sha: string, ref = 'refs/heads/main'): Promise<number[]> {
    const kind = ref.startsWith('refs/try/') ? 'try' as const : 'branch' as const;
    const branch = ref.replace(/^refs\/(heads|try)\//, '');
    const repoCfg = p.cfg.repositories[0];
    const row = p.store.repos.byName('shop')!;
    const changeId = p.store.repos.recordChange({ repoId: row.id, ref, branch, kind, oldSha: old, newSha: sha, source: 'api', pusher: null, at: Date.now() });
    return p.intake.buildsFor(repoCfg, row, { old, new: sha, ref }, { kind, branch }, changeId, Date.now());
  }
  const blame = (id: number) => p.store.builds.blamelist(id).map((c) => c.subject);
  const files = (id: number) => p.store.units.byBuild(id).flatMap((u) => JSON.parse(u.files) as string[]).sort();

  it('creates one build per builder with the blamelist since the old head and units from the files at the commit', async () => {
    start([builder(), builder({ name: 'lint', tests: null })]);
    const c1 = repo.commit({ 'test/a.test.js': '', 'test/b.test.js': '', 'src/x.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const ids = await notice(ZERO_SHA, c1);
    expect(ids).to.have.length(2);
    const [unit, lint] = ids.map((id) => p.store.builds.get(id)!);
    expect(unit).to.include({ builder: 'unit', sha: c1, state: 'queued', kind: 'branch', branch: 'main' });
    expect(files(unit.id)).to.deep.equal(['test/a.test.js', 'test/b.test.js']);
    expect(blame(unit.id)).to.deep.equal(['first']);
    expect(lint).to.include({ builder: 'lint', unitsTotal: 1 });
    expect(files(lint.id), 'a builder without tests runs once, with no files').to.deep.equal([]);
    expect(blame(lint.id), 'its blamelist is read after it was queued').to.deep.equal(['first']);
    expect(queued).to.be.greaterThan(0);
    expect(await notice(ZERO_SHA, c1), 'the same head again builds nothing').to.deep.equal([]);
  });

  it('plans every step of a builder with steps at the commit and queues only the first; a bisect build runs the failed step and what it needs', async () => {
    const ci = builder({ name: 'ci', tests: null, run: '', steps: [
      { name: 'build', run: 'make' }, { name: 'lint', run: 'lint', needs: [] },
      { name: 'test', run: 'node --test "$@"', tests: 'test/*.test.js', needs: ['build'] }, { name: 'package', run: 'pack', needs: ['test'] }] });
    start([ci]);
    const c1 = repo.commit({ 'test/a.test.js': '', 'test/b.test.js': '', 'src/x.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const [id] = await notice(ZERO_SHA, c1);
    const steps = p.store.steps.byBuild(id);
    expect(steps.map((s) => `${s.name}:${s.result}`)).to.deep.equal(['build:running', 'lint:running', 'test:pending', 'package:pending']);
    expect(steps[2].plan.flatMap((u) => u.files).sort(), 'the sharded step planned over the files at the commit').to.deep.equal(['test/a.test.js', 'test/b.test.js']);
    expect(p.store.units.byBuild(id).map((u) => u.step)).to.deep.equal(['build', 'lint']);
    // test fails: the culprit search's probes run build and test (package needs test, but is not needed; nor is lint).
    p.store.tx(() => p.store.steps.finish(id, 'test', 'failed', Date.now()));
    const repoCfg = p.cfg.repositories[0];
    const probe = p.store.tx(() => p.intake.createBisect({ repo: repoCfg, builder: repoCfg.builders[0], sha: c1, files: [], ref: 'refs/bisect/1',
      branch: 'main', at: Date.now(), redBuildId: id }));
    expect(p.store.steps.byBuild(probe).map((s) => s.name)).to.deep.equal(['build', 'test']);
    const all = p.store.tx(() => p.intake.createBisect({ repo: repoCfg, builder: repoCfg.builders[0], sha: c1, files: [], ref: 'refs/bisect/2',
      branch: 'main', at: Date.now() }));
    expect(p.store.steps.byBuild(all).map((s) => s.name), 'no red build known: every step').to.deep.equal(['build', 'lint', 'test', 'package']);
  });

  it('lets a push join its builder\'s queued build: the blamelist grows and the units are split again', async () => {
    start();
    const c1 = repo.commit({ 'test/a.test.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const [id] = await notice(ZERO_SHA, c1);
    const c2 = repo.commit({ 'test/b.test.js': '' }, 'second');
    expect(repo.push().ok).to.equal(true);
    expect(await notice(c1, c2)).to.deep.equal([id]);
    expect(p.store.builds.get(id)).to.include({ sha: c2, state: 'queued' });
    expect(blame(id)).to.deep.equal(['second', 'first']);
    expect(files(id)).to.deep.equal(['test/a.test.js', 'test/b.test.js']);
    expect(p.store.builds.get(id)!.unitsTotal).to.equal(p.store.units.byBuild(id).length);

    // Once a runner took a unit the build no longer joins: the next push gets a build of its own.
    const r1 = p.runner('r1', 8);
    p.registry.join(r1, []);
    p.queue.dispatch();
    expect(p.store.builds.get(id)!.state).to.equal('running');
    const c3 = repo.commit({ 'test/c.test.js': '' }, 'third');
    expect(repo.push().ok).to.equal(true);
    const [next] = await notice(c2, c3);
    expect(next).to.not.equal(id);
    expect(blame(next)).to.deep.equal(['third']);
    expect(p.store.builds.get(next)!.baseSha).to.equal(c2);
  });

  it('plans a joined stepped build\'s steps again at the new head, with the counters of the units queued now', async () => {
    start([builder({ name: 'ci', tests: null, run: '', steps: [{ name: 'build', run: 'make' },
      { name: 'test', run: 'node --test "$@"', tests: 'test/*.test.js' }] })]);
    const c1 = repo.commit({ 'test/a.test.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const [id] = await notice(ZERO_SHA, c1);
    const c2 = repo.commit({ 'test/b.test.js': '' }, 'second');
    expect(repo.push().ok).to.equal(true);
    expect(await notice(c1, c2)).to.deep.equal([id]);
    const steps = p.store.steps.byBuild(id);
    expect(steps.map((s) => `${s.name}:${s.result}`)).to.deep.equal(['build:running', 'test:pending']);
    expect(steps[1].plan.flatMap((u) => u.files).sort()).to.deep.equal(['test/a.test.js', 'test/b.test.js']);
    expect(p.store.units.byBuild(id).map((u) => u.step)).to.deep.equal(['build']);
    expect(p.store.builds.get(id)).to.include({ sha: c2, unitsTotal: 1, unitsDone: 0 });
  });

  it('builds try refs on their own: they never join', async () => {
    start();
    const c1 = repo.commit({ 'test/a.test.js': '' }, 'try one');
    expect(repo.push('HEAD:refs/try/1').ok).to.equal(true);
    const [first] = await notice(ZERO_SHA, c1, 'refs/try/1');
    const c2 = repo.commit({}, 'try two');
    expect(repo.push('HEAD:refs/try/1').ok).to.equal(true);
    const [second] = await notice(c1, c2, 'refs/try/1');
    expect(second).to.not.equal(first);
    expect(p.store.builds.get(second)).to.include({ kind: 'try', branch: '1', ref: 'refs/try/1' });
  });

  it('keeps push order on a rebuild: rebuilding an old red build never closes the tree of a green head', async () => {
    start();
    const r1 = p.runner('r1', 4);
    p.registry.join(r1, []);
    const run = async (id: number, exitCode: number) => {
      p.queue.dispatch();
      for (;;) {
        const unit = p.store.units.byBuild(id).find((u) => u.state === 'running');
        if (!unit) break;
        p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(unit.id, { exitCode }));
        r1.units.delete(unit.id);
        p.queue.dispatch();
      }
      return p.store.builds.get(id)!;
    };
    const c1 = repo.commit({ 'test/a.test.js': '' }, 'red');
    expect(repo.push().ok).to.equal(true);
    const [red] = await notice(ZERO_SHA, c1);
    expect((await run(red, 1)).result).to.equal('failed');
    expect(p.store.tree.get(p.repoId, 'main')!.state).to.equal('closed');
    const c2 = repo.commit({ 'test/a.test.js': 'fixed' }, 'fix');
    expect(repo.push().ok).to.equal(true);
    const [green] = await notice(c1, c2);
    expect((await run(green, 0)).result).to.equal('passed');
    expect(p.store.tree.get(p.repoId, 'main')!.state).to.equal('open');

    const again = await p.intake.rebuild(p.store.builds.get(red)!);
    expect(p.store.builds.get(again)).to.include({ sha: c1, state: 'queued' });
    expect(p.store.builds.changeOf(again), 'the rebuild keeps its original\'s push').to.equal(p.store.builds.changeOf(red));
    expect((await run(again, 1)).result).to.equal('failed');
    expect(p.store.tree.get(p.repoId, 'main')!.state, 'the newest push is green').to.equal('open');
    expect(p.store.builds.deciding(p.repoId, 'unit', 'main')!.id).to.equal(green);
  });

  it('refuses to rebuild a build whose builder is no longer configured', async () => {
    start();
    const c1 = repo.commit({ 'test/a.test.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const [id] = await notice(ZERO_SHA, c1);
    const gone = { ...p.store.builds.get(id)!, builder: 'gone' };
    let err: unknown;
    await p.intake.rebuild(gone).catch((e) => { err = e; });
    expect(err).to.include({ code: 'GG_UNKNOWN_BUILDER' });
  });
});

describe('changes/intake: a git that hangs fails its change, and the repository\'s intake keeps working', () => {
  let home: ReturnType<typeof tempHome>;
  let hung: ReturnType<typeof hangingGit>;
  let p: Pipeline;
  const limit = GIT_TIME_LIMITS.queryMs;
  afterEach(() => {
    GIT_TIME_LIMITS.queryMs = limit;
    hung.restore();
    p.close();
    home.cleanup();
  });

  it('kills the git at its limit, logs the repository and the command, and builds the next push', async () => {
    home = tempHome('gg-intake-hang-');
    const repo = new Repo(home.dir);
    p = pipeline(config({ path: repo.bare, builders: [builder()] }));
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
    const changes = new RefChanges(p.store, p.cfg, p.intake, log);
    hung = hangingGit(home.dir, ' log ');
    GIT_TIME_LIMITS.queryMs = 400;

    const c1 = repo.commit({ 'test/a.test.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    hung.hang(true);
    const [recorded] = await changes.notice('shop', [{ old: ZERO_SHA, new: c1, ref: 'refs/heads/main' }], 'hook', null, { answerWhenRecorded: true });
    expect(recorded.change, 'the change is recorded at once').to.be.a('number');
    const failure = await pollUntil(() => lines.find((l) => l.includes('builds for a recorded change could not be created')), 'the failure to be logged', 10_000);
    expect(JSON.parse(failure)).to.deep.include({ repo: 'shop' });
    expect(JSON.parse(failure).err.message).to.contain(`git log --format=`).and.contain(`in ${repo.bare} ran over its time limit of 0.4 s`);
    expect(p.store.builds.list({ repoId: p.repoId, limit: 10 })).to.deep.equal([]);

    hung.hang(false);
    const c2 = repo.commit({ 'test/b.test.js': '' }, 'second');
    expect(repo.push().ok).to.equal(true);
    const [next] = await changes.notice('shop', [{ old: c1, new: c2, ref: 'refs/heads/main' }], 'hook', null);
    expect(next.builds, 'the repository still takes changes').to.have.length(1);
    expect(p.store.builds.get(next.builds[0])).to.include({ sha: c2, state: 'queued' });
    await changes.close();
  });
});
