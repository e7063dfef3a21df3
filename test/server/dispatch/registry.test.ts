import { expect } from 'chai';
import { pipeline, finished, type Pipeline } from '../memory.js';

describe('dispatch/registry: which runners are connected', () => {
  let p: Pipeline;
  let changes: number;
  let runnerEvents: number;
  beforeEach(() => {
    p = pipeline();
    changes = 0;
    runnerEvents = 0;
    p.registry.onChange = () => { changes++; };
    p.events.on('runners', () => { runnerEvents++; });
  });
  afterEach(() => p.close());

  it('joins a runner, sends to it while it is connected, and tells whoever reacts to the runner set', () => {
    const r1 = p.runner('r1', 2);
    expect(p.registry.send(r1.runnerId, { type: 'cancel', unit: 1, reason: 'x' }), 'not joined yet').to.equal(false);
    expect(p.registry.join(r1, [])).to.deep.equal([]);
    expect(p.registry.connected()).to.deep.equal([r1]);
    expect(p.registry.get(r1.runnerId)).to.equal(r1);
    expect(p.registry.send(r1.runnerId, { type: 'cancel', unit: 1, reason: 'x' })).to.equal(true);
    expect(r1.sent).to.have.length(1);
    expect([changes, runnerEvents]).to.deep.equal([1, 1]);
  });

  it('lets a rejoining runner claim the units it still holds and tells it to drop the others', () => {
    const r1 = p.runner('r1', 4);
    const r2 = p.runner('r2', 4);
    const id = p.build([['test/a.test.js'], ['test/b.test.js'], ['test/c.test.js'], ['test/d.test.js']]);
    const [held, other, done, queued] = p.store.units.byBuild(id).map((u) => u.id);
    p.lifecycle.assign(held, r1.runnerId);
    p.lifecycle.assign(other, r2.runnerId);
    p.lifecycle.assign(done, r1.runnerId);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(done));
    const drop = p.registry.join(r1, [
      { unit: held, finished: false },
      { unit: other, finished: false }, // another runner's
      { unit: done, finished: true }, // recorded; only the ack went missing
      { unit: queued, finished: false }, // never assigned to it
      { unit: 9999, finished: false }, // unknown
    ]);
    expect(drop).to.deep.equal([other, queued, 9999]);
    expect([...r1.units]).to.deep.equal([held]);
  });

  it('drops a unit that was lost and ran again elsewhere, even when the runner says it finished', () => {
    const r1 = p.runner('r1');
    const id = p.build([['test/a.test.js']]);
    const [a] = p.store.units.byBuild(id).map((u) => u.id);
    p.lifecycle.assign(a, r1.runnerId);
    p.lifecycle.unitLost(p.store.units.get(a)!, 'silent');
    expect(p.registry.join(r1, [{ unit: a, finished: true }])).to.deep.equal([a]);
  });

  it('loses the running units of a runner that leaves, once, and marks it disconnected', () => {
    const r1 = p.runner('r1', 2);
    p.registry.join(r1, []);
    const id = p.build([['test/a.test.js'], ['test/b.test.js']]);
    p.queue.dispatch();
    expect(r1.units.size).to.equal(2);
    p.registry.leave(r1, 'heartbeat timeout');
    expect(p.registry.connected()).to.deep.equal([]);
    expect(p.store.runners.all().find((r) => r.name === 'r1')!.connected).to.equal(0);
    const units = p.store.units.byBuild(id);
    expect(units.filter((u) => u.result === 'exception').map((u) => u.error)).to.deep.equal(
      ['runner r1 lost: heartbeat timeout', 'runner r1 lost: heartbeat timeout']);
    expect(units.filter((u) => u.state === 'queued')).to.have.length(2);
    p.registry.leave(r1, 'again');
    expect(p.store.units.byBuild(id), 'a second leave loses nothing more').to.have.length(4);
    expect(changes).to.equal(2);
  });

  it('replaces the old connection of a runner that connects again', () => {
    const first = p.runner('r1');
    const second = p.runner('r1');
    expect(second.runnerId).to.equal(first.runnerId);
    p.registry.join(first, []);
    p.registry.join(second, []);
    expect(p.registry.connected()).to.deep.equal([second]);
    p.registry.leave(first, 'stale');
    expect(p.registry.connected(), 'the old link leaving does not remove the new one').to.deep.equal([second]);
  });

  it('keeps going when a reaction to the runner set throws', () => {
    p.registry.onChange = () => { throw new Error('replan failed'); };
    const r1 = p.runner('r1');
    expect(() => p.registry.join(r1, [])).not.to.throw();
    expect(p.registry.connected()).to.have.length(1);
  });
});
