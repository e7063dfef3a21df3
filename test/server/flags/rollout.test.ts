import { expect } from 'chai';
import { checkFlagsFile, type FlagSetDefinition } from '../../../server/flags/definitions.js';
import { FlagSet, type OfrepSuccess } from '../../../server/flags/evaluator.js';
import { decideStep, sampleRatioP, stepAlpha, withShares } from '../../../server/flags/rollout.js';
import { rolloutSchema } from '../../../server/config/rollouts.js';
import { verdictOf } from '../../../server/immune/watch.js';

const notKilled = () => null;
const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function defOf(flags: unknown): FlagSetDefinition {
  const c = checkFlagsFile(JSON.stringify({ flags }), 'flags.json');
  if (!c.ok) throw new Error(c.problems.join('; '));
  return c.set;
}

/** The targeting keys served `variant` by a definition (flagd-core's own bucketing). */
function holders(def: FlagSetDefinition, key: string, variant: string): Set<string> {
  const set = new FlagSet(def);
  return new Set(KEYS.filter((k) => (set.evaluate(key, { targetingKey: k }, notKilled).body as OfrepSuccess).variant === variant));
}

describe('flags/rollout', () => {
  it('raising a share through a push keeps everyone who had the feature (10,000 keys, flagd-core bucketing)', () => {
    const at = (p: number) => defOf({ checkout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off',
      targeting: { fractional: [['on', p], ['off', 100 - p]] } } });
    let before = holders(at(1), 'checkout', 'on');
    for (const p of [5, 10, 25, 50, 100]) {
      const after = holders(at(p), 'checkout', 'on');
      for (const k of before) expect(after.has(k), `${k} lost the feature going to ${p} %`).to.equal(true);
      expect(after.size).to.be.within(p * 100 - 300, p * 100 + 300);
      before = after;
    }
    expect(before.size).to.equal(10_000);
  });

  it('each rollout step keeps everyone below it, whatever order the file listed the variants in, and keeps bucketBy and the rest of the rule', () => {
    const def = defOf({ checkout: { state: 'ENABLED', variants: { off: false, on: true }, defaultVariant: 'off',
      targeting: { if: [{ in: ['@qa.example', { var: 'email' }] }, 'on', { fractional: [{ var: 'org' }, ['off', 50], ['on', 50]] }] } } });
    let before = new Set<string>();
    for (const percent of [1, 5, 10, 25, 50, 100]) {
      const shaped = withShares(def, [{ key: 'checkout', variant: 'on', percent }]);
      expect(shaped.problems).to.deep.equal([]);
      const set = new FlagSet(shaped.definition);
      const on = new Set(KEYS.filter((k) => (set.evaluate('checkout', { targetingKey: k, org: k }, notKilled).body as OfrepSuccess).variant === 'on'));
      for (const k of before) expect(on.has(k), `${k} lost the feature at ${percent} %`).to.equal(true);
      expect(on.size).to.be.within(percent * 100 - 300, percent * 100 + 300);
      expect((set.evaluate('checkout', { targetingKey: 'x', email: 'a@qa.example' }, notKilled).body as OfrepSuccess).variant).to.equal('on');
      before = on;
    }
  });

  it('a flag without targeting gets the split; one whose targeting has no fractional, or no such variant, is left as written and named', () => {
    const def = defOf({
      plain: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
      ruled: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { if: [{ '==': [{ var: 'a' }, 1] }, 'on', 'off'] } },
    });
    const shaped = withShares(def, [{ key: 'plain', variant: 'on', percent: 10 }, { key: 'ruled', variant: 'on', percent: 10 }, { key: 'plain2', variant: 'on', percent: 10 }]);
    expect(shaped.definition.flags.plain.targeting).to.deep.equal({ fractional: [['on', 10], ['off', 90]] });
    expect(shaped.definition.flags.ruled.targeting).to.deep.equal({ if: [{ '==': [{ var: 'a' }, 1] }, 'on', 'off'] });
    expect(shaped.problems).to.have.length(2);
    expect(shaped.problems[0]).to.match(/"ruled".*no "fractional"/);
    expect(shaped.problems[1]).to.match(/"plain2".*defines no such flag/);
    expect(withShares(def, [{ key: 'plain', variant: 'new', percent: 10 }]).problems[0]).to.match(/no variant "new" \(it has on, off\)/);
  });

  it('the sample-ratio check: p < 0.001 on a skewed split, not on a fair one', () => {
    expect(sampleRatioP(1000, 9000, 0.1)).to.be.above(0.5);
    expect(sampleRatioP(1100, 8900, 0.1)).to.be.below(0.001); // χ² = 11.1
    expect(sampleRatioP(1030, 8970, 0.1)).to.be.within(0.3, 0.35); // χ² = 1, p = 0.317
    expect(sampleRatioP(0, 0, 0.1)).to.equal(1);
    expect(sampleRatioP(10, 0, 1)).to.equal(1);
  });

  it('a step waits for minSample (no verdict before, not even a kill), then kills on a regression, holds on a sample-ratio mismatch, else advances', () => {
    const m = (exposuresNew: number, exposuresOld: number, regression = false, inconclusive: string | null = null) => ({ exposuresNew, exposuresOld, regression, inconclusive });
    expect(decideStep(m(999, 9000, true), 10, 1000).decision).to.equal('wait');
    expect(decideStep(m(1000, 9000, false, 'no data for errors'), 10, 1000).decision).to.equal('wait');
    expect(decideStep(m(1000, 9000, true), 10, 1000).decision).to.equal('kill');
    expect(decideStep(m(1200, 8800), 10, 1000).decision).to.equal('hold');
    expect(decideStep(m(1000, 9000), 10, 1000).decision).to.equal('advance');
  });

  describe('the boundary each step is judged at (Lan–DeMets Pocock-type alpha spending of the default alpha)', () => {
    const STEPS = [1, 5, 10, 25, 50, 100];
    const rule = rolloutSchema.parse({ variant: 'on', steps: STEPS, hold: 60, source: { prometheus: 'http://p:9090' },
      metrics: [{ name: 'errors', kind: 'ratio', errors: 'app_requests_total{status="500"}', total: 'app_requests_total' }] });
    /** What the server decides at step `index`: the old variant at 500 errors in 100,000, the new at `errors` in `exposures` since the start. */
    const decide = (index: number, errors: number, exposures: number) => {
      const v = verdictOf({ metrics: rule.metrics, alpha: stepAlpha(rule.alpha, STEPS, index), maxIncrease: rule.maxIncrease, compare: { label: 'variant', canary: 'on' } }, [
        { side: 'after', from: 0, to: 1, readings: { errors: { kind: 'ratio', errors, total: exposures } } },
        { side: 'rest', from: 0, to: 1, readings: { errors: { kind: 'ratio', errors: 500, total: 100_000 } } }], []);
      return decideStep({ exposuresNew: exposures, exposuresOld: exposures * (100 - STEPS[index]) / STEPS[index], regression: v.regression, inconclusive: null },
        STEPS[index], rule.minSample).decision;
    };

    it('spends alpha 0.002 (the default) over the five judged steps, a little more at the first: the levels add up to alpha', () => {
      expect(rule.alpha).to.equal(0.002);
      const levels = STEPS.slice(0, 5).map((_, i) => stepAlpha(rule.alpha, STEPS, i));
      expect(levels.reduce((a, b) => a + b, 0)).to.be.closeTo(0.002, 1e-15);
      for (let i = 1; i < levels.length; i++) expect(levels[i]).to.be.below(levels[i - 1]);
      expect(levels[0]).to.be.closeTo(0.002 * Math.log(1 + (Math.E - 1) / 5), 1e-15); // ≈ 0.000591
      expect(stepAlpha(0.01, [100], 0)).to.equal(0.01);
      expect(stepAlpha(0.01, [50, 100], 0)).to.equal(0.01);
    });

    it('at the 1 % step (1,000 exposures, base rate 0.5 %): 15 errors kill, 14 do not', () => {
      expect(decide(0, 15, 1000)).to.equal('kill'); // p = 0.00025 < 0.00059
      expect(decide(0, 14, 1000)).to.equal('advance'); // p = 0.00077
    });

    it('at the 50 % step (10,500 exposures since the start): 82 errors kill, 81 do not', () => {
      expect(decide(4, 82, 10_500)).to.equal('kill'); // p = 0.00023 < 0.00027
      expect(decide(4, 81, 10_500)).to.equal('advance'); // p = 0.00035
    });
  });
});
