import { expect } from 'chai';
import { AVOID_WAIT_MS, describeWait, hasFreeSlot, pickRunner, type RunnerLink } from '../../../server/dispatch/placement.js';
import type { UnitRow } from '../../../server/store/units.js';

function link(runnerId: number, slots: number, units: number[] = [], labels?: Record<string, string>): RunnerLink {
  return { runnerId, name: `r${runnerId}`, slots, units: new Set(units), labels, send: () => undefined };
}

function unit(fields: Partial<UnitRow>): UnitRow {
  return { id: 1, state: 'queued', expectedMs: 500, queuedAt: 0, avoidRunnerId: null, startedAt: null, assignedAt: null, ...fields } as UnitRow;
}

describe('placement: which runner takes a unit', () => {
  const none = () => undefined;

  it('knows whether any slot is free', () => {
    expect(hasFreeSlot([link(1, 1, [10]), link(2, 2, [11, 12])])).to.equal(false);
    expect(hasFreeSlot([link(1, 1, [10]), link(2, 2, [11])])).to.equal(true);
    expect(hasFreeSlot([])).to.equal(false);
  });

  it('gives a unit to the runner with the most free slots', () => {
    const picked = pickRunner([link(1, 2, [10]), link(2, 3, [11]), link(3, 1, [12])], unit({}), 0, none);
    expect(picked?.runnerId).to.equal(2);
  });

  it('sends a retry to another runner when one has a free slot', () => {
    const picked = pickRunner([link(1, 4), link(2, 1)], unit({ avoidRunnerId: 1 }), 0, none);
    expect(picked?.runnerId).to.equal(2);
  });

  it('gives a retry to the runner it avoids at once when that runner is alone', () => {
    expect(pickRunner([link(1, 2)], unit({ avoidRunnerId: 1 }), 0, none)?.runnerId).to.equal(1);
  });

  it('holds a retry back while another runner will soon be free, and not longer than its budget', () => {
    const running = unit({ id: 20, state: 'running', expectedMs: 300, startedAt: 0, assignedAt: 0 });
    const links = [link(1, 1), link(2, 1, [20])];
    const retry = unit({ avoidRunnerId: 1, expectedMs: 200, queuedAt: 0 });
    const lookup = (id: number) => (id === 20 ? running : undefined);
    expect(pickRunner(links, retry, 100, lookup), 'runner 2 frees its slot in 200 ms').to.equal(undefined);
    expect(pickRunner(links, retry, AVOID_WAIT_MS, lookup)?.runnerId, 'waited its budget').to.equal(1);
  });

  it('gives a retry to the avoided runner when the others are busy for longer than running it takes', () => {
    const long = unit({ id: 30, state: 'running', expectedMs: 60_000, startedAt: 0, assignedAt: 0 });
    const links = [link(1, 1), link(2, 1, [30])];
    const retry = unit({ avoidRunnerId: 1, expectedMs: 2_000, queuedAt: 100 });
    expect(pickRunner(links, retry, 100, (id) => (id === 30 ? long : undefined))?.runnerId).to.equal(1);
  });
  it('gives a unit whose builder has runsOn only to a runner with every one of those labels', () => {
    const links = [link(1, 4, [], { os: 'mac' }), link(2, 1, [], { os: 'linux', arch: 'arm64' }), link(3, 2)];
    expect(pickRunner(links, unit({}), 0, none, { os: 'linux' })?.runnerId).to.equal(2);
    expect(pickRunner(links, unit({}), 0, none, { os: 'linux', arch: 'x86_64' })).to.equal(undefined);
    expect(pickRunner(links, unit({}), 0, none, {})?.runnerId, 'no runsOn: most free slots').to.equal(1);
    const busy = [link(1, 4, [], { os: 'mac' }), link(2, 1, [9], { os: 'linux' })];
    expect(pickRunner(busy, unit({}), 0, none, { os: 'linux' }), 'the matching runner is busy: wait').to.equal(undefined);
    expect(pickRunner([link(2, 1, [], { os: 'linux' })], unit({ avoidRunnerId: 2 }), 0, none, { os: 'linux' })?.runnerId,
      'alone among matching runners, the avoided one takes it').to.equal(2);
  });

  it('says why a unit waits when no connected runner can take it', () => {
    expect(describeWait([link(1, 1, [5], { os: 'linux' })], { os: 'linux' }), 'busy is not unable').to.equal(null);
    expect(describeWait([link(1, 1, [], { os: 'mac' }), link(2, 1)], { os: 'linux', gpu: 'yes' }))
      .to.equal('waiting: no connected runner has os=linux, gpu=yes');
    expect(describeWait([], undefined)).to.equal('waiting: no runner is connected');
    expect(describeWait([], { os: 'linux' })).to.equal('waiting: no runner is connected (this builder needs os=linux)');
    expect(describeWait([link(1, 1)], undefined)).to.equal(null);
  });
});
