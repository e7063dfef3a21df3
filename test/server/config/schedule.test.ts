import { expect } from 'chai';
import { cronProblem, nextFire, scheduledBranch } from '../../../server/config/schedule.js';

describe('config/schedule: cron patterns and the branch a schedule builds', () => {
  it('reads five- and six-field patterns and names what is wrong with others', () => {
    expect(cronProblem('0 3 * * *')).to.equal(null);
    expect(cronProblem('* * * * * *')).to.equal(null);
    expect(cronProblem('0 25 * * *')).to.contain('hour');
    expect(cronProblem('daily')).to.contain('five, six, or seven');
  });

  it('gives the next time after a moment, to the second', () => {
    const t = Date.UTC(2026, 0, 1, 0, 0, 0, 500);
    expect(nextFire('* * * * * *', t)).to.equal(Date.UTC(2026, 0, 1, 0, 0, 1));
  });

  it('builds its own branch, else the first gated one, else none', () => {
    expect(scheduledBranch({ cron: '0 3 * * *', branch: 'release' }, ['main'])).to.equal('release');
    expect(scheduledBranch({ cron: '0 3 * * *', branch: null }, ['main', 'next'])).to.equal('main');
    expect(scheduledBranch({ cron: '0 3 * * *', branch: null }, [])).to.equal(null);
  });
});
