import { expect } from 'chai';
import { UnitTokens } from '../../../server/dispatch/unitTokens.js';

describe('server/dispatch/unitTokens: a credential per unit', () => {
  const units = new Map<number, { state: string; runnerId: number | null; repo: string }>();
  const tokens = new UnitTokens((id) => units.get(id));

  it('lets a running unit fetch its own repository, nothing else, and nothing once it ended', () => {
    units.set(1, { state: 'running', runnerId: 7, repo: 'shop' });
    const t = tokens.issue(1, 7, 'shop');
    expect(t).to.match(/^[0-9a-f]{64}$/);
    expect(tokens.issue(1, 7, 'shop')).not.to.equal(t);
    expect(tokens.allows(t, 'shop')).to.equal(true);
    expect(tokens.allows(t, 'bank')).to.equal(false);
    expect(tokens.allows('', 'shop')).to.equal(false);
    expect(tokens.allows('f'.repeat(64), 'shop')).to.equal(false);
    units.set(1, { state: 'done', runnerId: 7, repo: 'shop' });
    expect(tokens.allows(t, 'shop')).to.equal(false);
    units.set(1, { state: 'running', runnerId: 7, repo: 'shop' });
    expect(tokens.allows(t, 'shop'), 'forgotten once refused for an ended unit').to.equal(false);
  });

  it('refuses a unit that now runs on another runner (requeued) or is gone', () => {
    units.set(2, { state: 'running', runnerId: 7, repo: 'shop' });
    const t = tokens.issue(2, 7, 'shop');
    units.set(2, { state: 'running', runnerId: 8, repo: 'shop' });
    expect(tokens.allows(t, 'shop')).to.equal(false);
    const u = tokens.issue(3, 7, 'shop');
    expect(tokens.allows(u, 'shop')).to.equal(false);
  });

  it('names the running unit a token was issued for (artifact uploads), and none once it ended or moved', () => {
    units.set(4, { state: 'running', runnerId: 7, repo: 'shop' });
    const t = tokens.issue(4, 7, 'shop');
    expect(tokens.runningUnit(t)).to.equal(4);
    expect(tokens.runningUnit('f'.repeat(64))).to.equal(null);
    expect(tokens.runningUnit('not hex')).to.equal(null);
    units.set(4, { state: 'running', runnerId: 8, repo: 'shop' });
    expect(tokens.runningUnit(t)).to.equal(null);
    units.set(5, { state: 'running', runnerId: 7, repo: 'shop' });
    const u = tokens.issue(5, 7, 'shop');
    units.set(5, { state: 'done', runnerId: 7, repo: 'shop' });
    expect(tokens.runningUnit(u)).to.equal(null);
  });
});
