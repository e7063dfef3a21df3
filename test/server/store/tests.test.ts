import { expect } from 'chai';
import { finished, pipeline, testCase, type FakeLink, type Pipeline } from '../memory.js';

describe('store/tests: a test is its file, suite path, name and index among same-named siblings', () => {
  let p: Pipeline;
  let r1: FakeLink;
  beforeEach(() => { p = pipeline(); r1 = p.runner('r1', 2); });
  afterEach(() => p.close());

  const shown = (buildId: number) => p.store.tests.finalByBuild(buildId)
    .map((t) => `${t.file} ${t.classname ? `${t.classname} > ` : ''}${t.name}: ${t.status} (attempt ${t.attempt} of ${t.attempts})`).sort();

  it('keeps duplicate titles and a helper\'s tests run by two files apart, as many as the report had, across a retry of one file', () => {
    const id = p.build([['test/a.test.js', 'test/b.test.js']]);
    const [unit] = p.store.units.byBuild(id).map((u) => u.id);
    expect(p.lifecycle.assign(unit!, r1.runnerId)).to.equal(true);
    const first = [
      testCase('shared ok', 'passed', 'test/a.test.js'), testCase('shared ok', 'passed', 'test/a.test.js'), testCase('own a', 'passed', 'test/a.test.js'),
      testCase('shared ok', 'passed', 'test/b.test.js'), testCase('shared ok', 'passed', 'test/b.test.js'), testCase('shared fails', 'failed', 'test/b.test.js'),
    ];
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(unit!, { exitCode: 1, tests: first }));
    const retry = p.store.units.byBuild(id).find((u) => u.retryOf === unit)!;
    expect(JSON.parse(retry.files), 'only the file that ran the failure runs again').to.deep.equal(['test/b.test.js']);
    expect(shown(id)).to.have.length(first.length);
    expect(shown(id).filter((l) => l.startsWith('test/a.test.js suite > shared ok'))).to.deep.equal([
      'test/a.test.js suite > shared ok: passed (attempt 1 of 1)', 'test/a.test.js suite > shared ok: passed (attempt 1 of 1)']);

    expect(p.lifecycle.assign(retry.id, r1.runnerId)).to.equal(true);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(retry.id, { tests: [
      testCase('shared ok', 'passed', 'test/b.test.js'), testCase('shared ok', 'passed', 'test/b.test.js'), testCase('shared fails', 'passed', 'test/b.test.js'),
    ] }));
    expect(p.store.builds.get(id)).to.include({ state: 'done', result: 'flaky' });
    expect(shown(id)).to.deep.equal([
      'test/a.test.js suite > own a: passed (attempt 1 of 1)',
      'test/a.test.js suite > shared ok: passed (attempt 1 of 1)',
      'test/a.test.js suite > shared ok: passed (attempt 1 of 1)',
      'test/b.test.js suite > shared fails: flaky (attempt 2 of 2)',
      'test/b.test.js suite > shared ok: passed (attempt 2 of 2)',
      'test/b.test.js suite > shared ok: passed (attempt 2 of 2)',
    ]);
    expect(p.store.tests.failingByBuild(id)).to.deep.equal([]);
  });
});
