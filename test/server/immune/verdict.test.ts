/**
 * The judgement on seeded noisy traffic (the bench's simulation, test/bench/immune.ts): a steady
 * 0.5 % error rate and latencies ±30 % never roll back 200 good deploys; a doubled error rate
 * with 20,000 requests in the window is caught in at least 95 % of deploys. And the tests' edges.
 */
import { expect } from 'chai';
import { countRegressions } from '../../bench/immune.js';
import { countTest, mannWhitney } from '../../../server/immune/stats.js';
import { judgeMetric } from '../../../server/immune/verdict.js';

describe('immune/verdict: false alarms and detection', function () {
  this.timeout(120_000);

  it('0 rollbacks in 200 good deploys (1,000 requests a window, seeded)', () => {
    expect(countRegressions(16, 200, 1_000, 0.005)).to.equal(0);
  });

  it('a doubled error rate with 20,000 requests a window is detected in ≥ 95 % of deploys', () => {
    const detected = countRegressions(17, 40, 20_000, 0.010);
    expect(detected / 40).to.be.at.least(0.95);
  });

  it('significant but smaller than maxIncrease is not a regression; large and significant is', () => {
    const metric = { name: 'errors', kind: 'ratio' as const, errors: 'e', total: 't' };
    const small = judgeMetric(metric, { kind: 'ratio', errors: 1000, total: 100_000 }, { kind: 'ratio', errors: 1300, total: 100_000 }, 0.01, 1.5);
    expect(small.pValue).to.be.lessThan(0.001);
    expect(small.regression).to.equal(false);
    const big = judgeMetric(metric, { kind: 'ratio', errors: 5, total: 1000 }, { kind: 'ratio', errors: 50, total: 1000 }, 0.01, 1.5);
    expect(big).to.include({ regression: true, before: 0.005, after: 0.05 });
  });

  it('a rate whose drop is bad; empty windows conclude nothing; Mann–Whitney sees a shift', () => {
    expect(countTest(100, 60, 40, 60, 'decrease').pValue).to.be.lessThan(0.001);
    expect(countTest(100, 60, 40, 60, 'increase').pValue).to.be.greaterThan(0.99);
    expect(countTest(0, 0, 5, 10).pValue).to.equal(1);
    expect(mannWhitney([1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]).pValue).to.be.lessThan(0.001);
    expect(mannWhitney([5, 5, 5], [5, 5, 5]).pValue).to.equal(1);
  });
});
