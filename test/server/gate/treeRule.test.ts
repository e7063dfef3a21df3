import { expect } from 'chai';
import { decideTree } from '../../../server/gate/treeRule.js';
import type { BuildRow } from '../../../server/store/builds.js';
import type { TreeStateRow } from '../../../server/store/tree.js';

function build(id: number, result: BuildRow['result']): BuildRow {
  return { id, result, state: 'done', repo: 'shop', builder: `b${id}`, branch: 'main' } as BuildRow;
}
function row(state: TreeStateRow['state'], automatic: boolean, buildId: number | null = null): TreeStateRow {
  return { state, automatic: automatic ? 1 : 0, reason: null, message: null, actor: null, buildId, since: 0,
    closedBy: state === 'open' ? null : automatic ? 'build' : 'person' };
}

describe('gate/treeRule: which builds decide the tree', () => {
  it('leaves a closure by hand and maintenance alone, whatever the builds say', () => {
    for (const r of [row('closed', false), row('maintenance', false)]) {
      expect(decideTree(r, [build(1, 'failed')])).to.deep.equal({ kind: 'none' });
      expect(decideTree(r, [build(1, 'passed')])).to.deep.equal({ kind: 'none' });
    }
  });

  it('closes an open tree (no row yet, or an open row) for a failed deciding build', () => {
    const red = build(3, 'failed');
    expect(decideTree(undefined, [red])).to.deep.equal({ kind: 'close', build: red });
    expect(decideTree(row('open', true), [build(2, 'passed'), red])).to.deep.equal({ kind: 'close', build: red });
    expect(decideTree(row('open', false), [red]), 'opened by hand: a new failure closes it again').to.deep.equal({ kind: 'close', build: red });
  });

  it('closes for the newest failed build when several builders are red', () => {
    const older = build(4, 'failed');
    const newer = build(9, 'failed');
    expect(decideTree(undefined, [older, undefined, newer])).to.deep.equal({ kind: 'close', build: newer });
  });

  it('changes nothing when the tree is already closed automatically for that same build', () => {
    expect(decideTree(row('closed', true, 9), [build(9, 'failed')])).to.deep.equal({ kind: 'none' });
  });

  it('moves an automatic closure to a newer failed build', () => {
    const newer = build(12, 'failed');
    expect(decideTree(row('closed', true, 9), [newer])).to.deep.equal({ kind: 'close', build: newer });
  });

  it('reopens an automatic closure when no deciding build failed, naming the newest deciding build', () => {
    const a = build(5, 'passed');
    const b = build(7, 'flaky');
    expect(decideTree(row('closed', true, 3), [a, b])).to.deep.equal({ kind: 'open', build: b });
    expect(decideTree(row('closed', true, 3), [undefined]), 'no deciding build left (pruned)').to.deep.equal({ kind: 'open', build: null });
  });

  it('leaves an open tree open when nothing failed', () => {
    expect(decideTree(undefined, [build(1, 'passed')])).to.deep.equal({ kind: 'none' });
    expect(decideTree(row('open', true), [build(1, 'flaky'), undefined])).to.deep.equal({ kind: 'none' });
    expect(decideTree(undefined, [])).to.deep.equal({ kind: 'none' });
  });
});
