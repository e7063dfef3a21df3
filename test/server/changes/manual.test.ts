import { expect } from 'chai';
import { Repo, tempHome } from '../../helpers.js';
import { failedUnits } from '../../../server/changes/manual.js';
import { builder, config, finished, pipeline, type Pipeline } from '../memory.js';

describe('changes/manual: builds by hand and re-running what failed', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let p: Pipeline;
  let head: string;
  const params = [{ name: 'TARGET', default: 'staging', choices: ['staging', 'production'] }];

  beforeEach(() => {
    home = tempHome('gg-manual-');
    repo = new Repo(home.dir);
    head = repo.commit({ 'test/a.test.js': '', 'test/b.test.js': '', 'test/c.test.js': '' }, 'first');
    expect(repo.push().ok).to.equal(true);
    p = pipeline(config({ path: repo.bare, builders: [builder({ params }), builder({ name: 'lint', tests: null })] }));
  });
  afterEach(() => { p.close(); home.cleanup(); });

  const refusal = (f: () => Promise<unknown>) => f().then(() => expect.fail('expected a refusal'), (e) => e as { code: string; message: string });

  it('builds the branch head on every builder, recording the admin and only the params each builder declares', async () => {
    const ids = await p.parts.manual.start({ repo: 'shop', cause: 'manual', by: 'alice', params: { TARGET: 'production' } });
    expect(ids).to.have.length(2);
    const [unit, lint] = ids.map((id) => p.store.builds.get(id)!);
    expect([unit.sha, unit.branch, unit.kind, lint.builder]).to.deep.equal([head, 'main', 'branch', 'lint']);
    expect(p.store.buildCauses.of(unit.id)).to.deep.equal({ cause: 'manual', startedBy: 'alice', rebuildOf: null, params: { TARGET: 'production' } });
    expect(p.store.buildCauses.of(lint.id)!.params).to.deep.equal({});
  });

  it('refuses an undeclared param, a value outside its choices or with shell characters, and a branch git does not have; creating nothing', async () => {
    const before = p.store.builds.count();
    const unknown = await refusal(() => p.parts.manual.start({ repo: 'shop', cause: 'manual', by: 'a', params: { HOME: '/root' } }));
    expect(unknown.code).to.equal('GG_BAD_PARAM');
    expect(unknown.message).to.contain('unknown param "HOME"').and.contain('declared params are TARGET');
    const outside = await refusal(() => p.parts.manual.start({ repo: 'shop', cause: 'manual', by: 'a', params: { TARGET: 'qa' } }));
    expect(outside.message).to.contain('must be one of staging, production');
    const shell = await refusal(() => p.parts.manual.start({ repo: 'shop', builder: 'unit', cause: 'manual', by: 'a', params: { TARGET: 'a b;$(x)' } }));
    expect(shell.code).to.equal('GG_BAD_PARAM');
    const branch = await refusal(() => p.parts.manual.start({ repo: 'shop', branch: 'nope', cause: 'manual', by: 'a' }));
    expect(branch.code).to.equal('GG_NOT_FOUND');
    expect((await refusal(() => p.parts.manual.start({ repo: 'shop', branch: '../x', cause: 'manual', by: 'a' }))).code).to.equal('GG_BAD_BRANCH');
    expect((await refusal(() => p.parts.manual.start({ repo: 'shop', builder: 'nope', cause: 'manual', by: 'a' }))).code).to.equal('GG_NO_BUILDER');
    expect(p.store.builds.count()).to.equal(before);
  });

  it('re-runs only the failed units\' files, as a rebuild of the original (same commit, change and params); nothing failed is refused', async () => {
    const [id] = await p.parts.manual.start({ repo: 'shop', builder: 'unit', cause: 'manual', by: 'alice', params: { TARGET: 'production' } });
    const running = await refusal(() => p.parts.manual.rerunFailed(p.store.builds.get(id)!, 'bob'));
    expect(running.code).to.equal('GG_NOTHING_FAILED');
    const link = p.runner('r1', 8);
    p.registry.join(link, []);
    for (let round = 0; round < 5 && p.store.builds.get(id)!.state !== 'done'; round++) {
      p.queue.dispatch();
      for (const u of p.store.units.byBuild(id).filter((x) => x.state === 'running' && x.runnerId === link.runnerId)) {
        const files = JSON.parse(u.files) as string[];
        p.lifecycle.unitStarted(link.runnerId, u.id, Date.now());
        p.lifecycle.unitFinished(link.runnerId, 'r1', finished(u.id, { exitCode: files.includes('test/b.test.js') ? 1 : 0 }));
      }
    }
    const done = p.store.builds.get(id)!;
    expect(done.state).to.equal('done');
    const failed = failedUnits(p.store.units.byBuild(id));
    expect(failed.flatMap((u) => u.files)).to.include('test/b.test.js');
    const rerun = await p.parts.manual.rerunFailed(done, 'bob');
    const b = p.store.builds.get(rerun)!;
    expect([b.sha, b.ref, b.builder]).to.deep.equal([done.sha, done.ref, done.builder]);
    expect(p.store.builds.changeOf(rerun)).to.equal(p.store.builds.changeOf(id));
    expect(p.store.units.byBuild(rerun).flatMap((u) => JSON.parse(u.files) as string[]).sort()).to.deep.equal(failed.flatMap((u) => u.files).sort());
    expect(p.store.buildCauses.of(rerun)).to.deep.equal({ cause: 'rerun', startedBy: 'bob', rebuildOf: id, params: { TARGET: 'production' } });
  });

  it('counts a unit by its last attempt: a retried unit that passed is not re-run', () => {
    const u = (seq: number, attempt: number, result: string, files: string[]) => ({ id: seq * 10 + attempt, seq, attempt, result, files: JSON.stringify(files) }) as any;
    expect(failedUnits([u(1, 1, 'failed', ['a']), u(1, 2, 'passed', ['a']), u(2, 1, 'exception', ['b']), u(3, 1, 'passed', ['c'])]))
      .to.deep.equal([{ files: ['b'], step: null }]);
  });
});
