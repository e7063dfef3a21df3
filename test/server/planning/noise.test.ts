import { expect } from 'chai';
import { NOISE, NOISE_SCENARIOS, perturb } from '../../../server/planning/noise.js';

describe('planning/noise: the planner\'s noisy scenarios', () => {
  const names = Array.from({ length: 200 }, (_, i) => `test/file${i}.test.js`);
  const ms = names.map((_, i) => 1000 + 10 * i);

  it(`gives ${NOISE_SCENARIOS} scenarios, every duration within ±${NOISE * 100}% of the learned one`, () => {
    const scenarios = perturb(names, ms);
    expect(scenarios).to.have.length(NOISE_SCENARIOS);
    for (const s of scenarios) {
      expect(s).to.have.length(ms.length);
      s.forEach((v, i) => expect(v).to.be.within(ms[i] * (1 - NOISE), ms[i] * (1 + NOISE)));
    }
  });

  it('is the same on every run and for every order: each file\'s noise is keyed by its name', () => {
    expect(perturb(names, ms)).to.deep.equal(perturb(names, ms));
    const reversed = perturb([...names].reverse(), [...ms].reverse());
    perturb(names, ms).forEach((s, k) => expect([...reversed[k]].reverse()).to.deep.equal(s));
    const [first] = perturb(['a.test.js'], [1000]);
    const [again] = perturb(['b.test.js', 'a.test.js'], [5, 1000]);
    expect(again[1]).to.equal(first[0]);
  });

  it('spreads the noise over the whole range, not one side of it', () => {
    const factors = perturb(names, ms).flatMap((s) => s.map((v, i) => v / ms[i] - 1));
    const mean = factors.reduce((a, b) => a + b, 0) / factors.length;
    // Uniform on ±NOISE: mean 0, standard error NOISE/√(3·1600) ≈ 0.0043; allow 4 of them.
    expect(Math.abs(mean)).to.be.below(4 * NOISE / Math.sqrt(3 * factors.length));
    expect(Math.min(...factors)).to.be.below(-0.9 * NOISE);
    expect(Math.max(...factors)).to.be.above(0.9 * NOISE);
  });
});
