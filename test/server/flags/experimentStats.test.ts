import { expect } from 'chai';
import { analyse, MIN_USERS, srmPValue } from '../../../server/flags/experimentStats.js';

describe('flags/experimentStats', () => {
  const exposures = [{ variant: 'off', users: 1000 }, { variant: 'on', users: 1000 }];
  const weights = { on: 50, off: 50 };

  it('a clear winner: lift, its 95 % CI and the p-value, and a decision line naming the rule', () => {
    const r = analyse({ control: 'off', exposures, weights, conversions: [{ metric: 'checkout', variant: 'off', users: 100 }, { metric: 'checkout', variant: 'on', users: 150 }] });
    const on = r.metrics[0].variants.find((v) => v.variant === 'on')!;
    expect(on.lift).to.be.closeTo(0.5, 1e-9);
    expect(on.ciLow!).to.be.within(0.15, 0.25); // (0.05 ± 1.96 · 0.01452) / 0.10
    expect(on.ciHigh!).to.be.within(0.75, 0.85);
    expect(on.pValue!).to.be.below(0.001);
    expect(r.decision).to.match(/^on wins on checkout: lift \+50\.0 % \(95 % CI \+2\d\.\d % to \+7\d\.\d %\), p = .* \(rule: two-sided z-test .* alpha 0\.05/);
  });

  it('masks every number of a metric below the minimum data, and shows no verdict', () => {
    const r = analyse({ control: 'off', exposures: [{ variant: 'off', users: MIN_USERS - 1 }, { variant: 'on', users: 1000 }], weights: null,
      conversions: [{ metric: 'checkout', variant: 'off', users: 50 }, { metric: 'checkout', variant: 'on', users: 500 }] });
    expect(r.metrics[0].variants.every((v) => v.masked && v.rate === null && v.pValue === null)).to.equal(true);
    expect(r.decision).to.match(/^No verdict yet on checkout: below the minimum data/);
  });

  it('a sample-ratio mismatch withholds the verdict; no difference says so', () => {
    const skewed = analyse({ control: 'off', exposures: [{ variant: 'off', users: 1000 }, { variant: 'on', users: 1200 }], weights,
      conversions: [{ metric: 'checkout', variant: 'off', users: 100 }, { metric: 'checkout', variant: 'on', users: 200 }] });
    expect(skewed.srmP!).to.be.below(0.001);
    expect(skewed.decision).to.match(/^No verdict: sample-ratio mismatch/);
    const same = analyse({ control: 'off', exposures, weights, conversions: [{ metric: 'checkout', variant: 'off', users: 100 }, { metric: 'checkout', variant: 'on', users: 104 }] });
    expect(same.decision).to.match(/^No significant difference on checkout yet/);
  });

  it('the k-variant sample-ratio check: fair splits pass, a skewed one fails, no weights → null', () => {
    expect(srmPValue([3330, 3340, 3330], [1, 1, 1])!).to.be.above(0.5);
    expect(srmPValue([3000, 3500, 3500], [1, 1, 1])!).to.be.below(0.001);
    expect(srmPValue([10, 10], null)).to.equal(null);
  });
});
