import { expect } from 'chai';
import { builder, config, finished, pipeline, SHA_A, type FakeLink, type Pipeline } from '../memory.js';
import { stepsOf } from '../../../server/config/steps.js';
import type { StepInput } from '../../../server/config/steps.js';
import type { PlannedStep } from '../../../server/store/steps.js';
import type { AssignMessage } from '../../../server/protocol.js';

const THREE: StepInput[] = [
  { name: 'build', run: 'make' },
  { name: 'test', run: 'node --test "$@"', tests: 'test/*.test.js' },
  { name: 'package', run: 'npm pack' },
];

describe('results/steps: a build of a builder with steps', () => {
  let p: Pipeline;
  let r1: FakeLink;
  afterEach(() => p.close());

  function setUp(steps: StepInput[]): void {
    p = pipeline(config({ builders: [builder({ name: 'ci', tests: null, run: '', steps })] }));
    r1 = p.runner('r1', 8);
  }
  /** A build made as intake makes it: every step planned (a sharded step: two units), the first ones queued. */
  function makeBuild(): number {
    const b = p.cfg.repositories[0].builders[0];
    const steps: PlannedStep[] = stepsOf(b).map((s) => ({ name: s.step, stepName: s.stepName, needs: s.needs, matrix: s.matrix,
      plan: s.tests ? [{ files: ['test/a.test.js'], expectedMs: 500 }, { files: ['test/b.test.js'], expectedMs: 500 }] : [{ files: [], expectedMs: 100 }] }));
    const now = Date.now();
    const id = p.store.tx(() => p.lifecycle.create({ repoId: p.repoId, builder: 'ci', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
      sha: SHA_A, baseSha: null, changeId: null, pushedAt: now, at: now, blamelist: [] }, [], steps));
    p.lifecycle.announce(id);
    return id;
  }
  const stepResults = (id: number) => p.store.steps.byBuild(id).map((s) => `${s.name}:${s.result}`);
  const queued = (id: number) => p.store.units.byBuild(id).filter((u) => u.state === 'queued');
  /** Runs every queued unit of the build to its end with this exit code; the steps of the units run. */
  function runQueued(id: number, exitCode = 0): string[] {
    const ran = queued(id);
    for (const u of ran) {
      expect(p.lifecycle.assign(u.id, r1.runnerId)).to.equal(true);
      expect(p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(u.id, { exitCode }))).to.equal(true);
    }
    return ran.map((u) => String(u.step));
  }

  it('runs the steps in the order their needs say, a sharded step as several units, and passes the build', () => {
    setUp(THREE);
    const id = makeBuild();
    expect(stepResults(id)).to.deep.equal(['build:running', 'test:pending', 'package:pending']);
    expect(runQueued(id)).to.deep.equal(['build']);
    expect(stepResults(id)).to.deep.equal(['build:passed', 'test:running', 'package:pending']);
    expect(p.store.builds.get(id)!.state).to.equal('running');
    expect(runQueued(id)).to.deep.equal(['test', 'test']);
    expect(runQueued(id)).to.deep.equal(['package']);
    expect(stepResults(id)).to.deep.equal(['build:passed', 'test:passed', 'package:passed']);
    expect(p.store.builds.get(id)).to.include({ state: 'done', result: 'passed', unitsTotal: 4, unitsDone: 4 });
  });

  it('starts steps that need nothing at once, side by side', () => {
    setUp([{ name: 'build', run: 'make' }, { name: 'lint', run: 'npm run lint', needs: [] }, { name: 'package', run: 'npm pack', needs: ['build', 'lint'] }]);
    const id = makeBuild();
    expect(queued(id).map((u) => u.step)).to.deep.equal(['build', 'lint']);
    const [build, lint] = queued(id);
    p.lifecycle.assign(build.id, r1.runnerId);
    p.lifecycle.assign(lint.id, r1.runnerId);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(build.id));
    expect(stepResults(id), 'package waits for lint too').to.deep.equal(['build:passed', 'lint:running', 'package:pending']);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(lint.id));
    expect(queued(id).map((u) => u.step)).to.deep.equal(['package']);
  });

  it('skips what needs a failed step, fails the build and closes the gated branch\'s tree', () => {
    setUp(THREE);
    const id = makeBuild();
    runQueued(id, 1);
    expect(stepResults(id), 'its retry still to run').to.deep.equal(['build:running', 'test:pending', 'package:pending']);
    expect(runQueued(id, 1)).to.deep.equal(['build']);
    expect(stepResults(id)).to.deep.equal(['build:failed', 'test:skipped', 'package:skipped']);
    expect(p.store.builds.get(id)).to.include({ state: 'done', result: 'failed' });
    expect(p.store.tree.get(p.repoId, 'main')).to.include({ state: 'closed' });
  });

  it('cancels the steps still to run when the build is cancelled', () => {
    setUp(THREE);
    const id = makeBuild();
    const [u] = queued(id);
    p.lifecycle.assign(u.id, r1.runnerId);
    expect(p.lifecycle.cancelBuild(id)).to.equal(true);
    expect(stepResults(id)).to.deep.equal(['build:running', 'test:cancelled', 'package:cancelled']);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(u.id, { exitCode: 143 }));
    expect(stepResults(id)).to.deep.equal(['build:cancelled', 'test:cancelled', 'package:cancelled']);
    expect(p.store.builds.get(id)).to.include({ state: 'done', result: 'cancelled' });
  });

  it('resumes from SQLite after a restart: a new lifecycle over the same rows starts the next step', () => {
    setUp(THREE);
    const id = makeBuild();
    const [u] = queued(id);
    p.lifecycle.assign(u.id, r1.runnerId);
    // The unit ends as the process dies before the step rule ran (written straight to the store).
    p.store.tx(() => p.store.units.finish(u.id, { result: 'passed', exitCode: 0, signal: null, error: null, at: Date.now() }));
    expect(stepResults(id)).to.deep.equal(['build:running', 'test:pending', 'package:pending']);
    p.lifecycle.recover();
    expect(stepResults(id)).to.deep.equal(['build:passed', 'test:running', 'package:pending']);
    expect(queued(id).map((x) => x.step)).to.deep.equal(['test', 'test']);
  });

  it('runs a matrix step once per combination, each told its variables, and the next step after all of them', () => {
    setUp([{ name: 'test', run: 'node -v', matrix: { NODE: ['20', '22'] } }, { name: 'package', run: 'npm pack' }]);
    const id = makeBuild();
    expect(stepResults(id)).to.deep.equal(['test (NODE=20):running', 'test (NODE=22):running', 'package:pending']);
    p.registry.join(r1, []);
    p.queue.dispatch();
    const assigns = r1.sent.filter((m): m is AssignMessage => m.type === 'assign');
    expect(assigns.map((a) => a.builder.vars)).to.deep.equal([{ NODE: '20' }, { NODE: '22' }]);
    expect(assigns.every((a) => a.builder.run === 'node -v' && a.builder.name === 'ci')).to.equal(true);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(assigns[0].unit));
    expect(stepResults(id)[2], 'the other combination still runs').to.equal('package:pending');
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(assigns[1].unit));
    expect(queued(id).map((x) => x.step)).to.deep.equal(['package']);
  });

  it('says a build waits for the labels of its queued step, not its builder\'s', () => {
    setUp([{ name: 'build', run: 'make' }, { name: 'arm', run: 'make arm', runsOn: { arch: 'arm64' } }]);
    const id = makeBuild();
    p.registry.join(r1, []);
    expect(p.parts.waitingReason(p.store.builds.get(id)!), 'build runs on any runner').to.equal(null);
    p.queue.dispatch();
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(p.store.units.byBuild(id)[0].id));
    p.queue.dispatch();
    expect(queued(id).map((u) => u.step), 'r1 has no arch=arm64: the arm step is not placed on it').to.deep.equal(['arm']);
    expect(p.parts.waitingReason(p.store.builds.get(id)!)).to.equal('waiting: no connected runner has arch=arm64');
  });
});
