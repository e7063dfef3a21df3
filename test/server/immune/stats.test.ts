import { expect } from 'chai';
import { countTest, mannWhitney, median, samplesOfBuckets } from '../../../server/immune/stats.js';
import { seededRandom } from '../../helpers.js';

// Reference values, not inequalities. R and SciPy cannot run here, so each reference is either
// (a) exact arithmetic done in this file with BigInt (binomial tails by summation), or
// (b) a hand derivation written out below whose last step is a published constant: the standard
//     normal upper tail Q(2) = 1 − Φ(2) = 0.022750131948179…, Q(3) = 0.0013498980316300…
//     (any normal table; R: pnorm(2, lower.tail = FALSE), SciPy: scipy.stats.norm.sf(2)).

const Q2 = 0.02275013194817921; // pnorm(2, lower.tail = FALSE)
const Q3 = 0.0013498980316301; // pnorm(3, lower.tail = FALSE)

function closeTo(actual: number, expected: number, relative: number, what: string): void {
  expect(Math.abs(actual - expected) / expected, `${what}: ${actual} vs reference ${expected}`).to.be.at.most(relative);
}

function choose(n: number, k: number): bigint {
  let r = 1n;
  for (let i = 0n; i < BigInt(k); i++) r = (r * (BigInt(n) - i)) / (i + 1n);
  return r;
}

/** a / b as a double, keeping ~64 significant bits however small the ratio. */
function toNumber(a: bigint, b: bigint): number {
  if (a === 0n) return 0;
  const shift = b.toString(2).length - a.toString(2).length + 64;
  return Number((a << BigInt(shift)) / b) / 2 ** shift;
}

/** Exact P(X ≥ k) (or P(X ≤ k)) for X ~ Binomial(n, num/den), summed term by term in integers. */
function binomialTail(k: number, n: number, num: number, den: number, side: 'upper' | 'lower'): number {
  let sum = 0n;
  const [from, to] = side === 'upper' ? [k, n] : [0, k];
  for (let i = from; i <= to; i++) sum += choose(n, i) * BigInt(num) ** BigInt(i) * BigInt(den - num) ** BigInt(n - i);
  return toNumber(sum, BigInt(den) ** BigInt(n));
}

describe('immune/stats: countTest (conditional exact test for two Poisson counts)', () => {
  it('matches hand-computed binomial tails', () => {
    // 2 errors in 1 s before, 10 in 1 s after: given 12, X ~ Bin(12, ½);
    // P(X ≥ 10) = (C(12,10) + C(12,11) + C(12,12)) / 2¹² = (66 + 12 + 1) / 4096 = 79/4096 = 0.019287109375.
    // R: poisson.test(c(10, 2), c(1, 1), alternative = "greater") is binom.test(10, 12, 0.5, "greater") — the same tail.
    closeTo(countTest(2, 1, 10, 1).pValue, 79 / 4096, 1e-12, '2/1 s → 10/1 s');
    // Unequal exposure: 3 in 2 s, 6 in 1 s: X ~ Bin(9, ⅓); P(X ≥ 6) = (84·2³ + 36·2² + 9·2 + 1) / 3⁹ = 835/19683.
    closeTo(countTest(3, 2, 6, 1).pValue, 835 / 19683, 1e-12, '3/2 s → 6/1 s');
    // A drop: 10 before, 2 after over equal exposure: P(X ≤ 2 | Bin(12, ½)) = (1 + 12 + 66) / 4096.
    closeTo(countTest(10, 1, 2, 1, 'decrease').pValue, 79 / 4096, 1e-12, 'a drop 10 → 2');
    // None before, 7 after: P(X ≥ 7 | Bin(7, ½)) = 1/128.
    closeTo(countTest(0, 10, 7, 10).pValue, 1 / 128, 1e-12, '0 → 7');
  });

  it('matches the exact tail summed in integers for realistic counts (relative 1e-9)', () => {
    const cases: [number, number, number, number][] = [
      [40, 1000, 70, 1000], // error ratio: 40 of 1000 requests → 70 of 1000
      [300, 3600, 360, 3600], // a rate over an hour each
      [12, 5000, 9, 1200], // unequal exposures
      [150, 900, 40, 300],
      [1, 3, 4, 2],
    ];
    for (const [k1, e1, k2, e2] of cases) {
      const share = [e2, e1 + e2];
      const expected = binomialTail(k2, k1 + k2, share[0], share[1], 'upper');
      closeTo(countTest(k1, e1, k2, e2).pValue, expected, 1e-9, `increase ${k1}/${e1} → ${k2}/${e2}`);
      const lower = binomialTail(k2, k1 + k2, share[0], share[1], 'lower');
      closeTo(countTest(k1, e1, k2, e2, 'decrease').pValue, lower, 1e-9, `decrease ${k1}/${e1} → ${k2}/${e2}`);
    }
  });

  it('keeps the far tail within 1e-15 absolute (1 − cdf loses relative precision there; no decision threshold is that small)', () => {
    // 5 → 60 per 100: exact P = 2.43478…e-13; 1 − binomialCdf gives it to about 3e-5 relative.
    const expected = binomialTail(60, 65, 100, 200, 'upper');
    expect(expected).to.be.within(2.4e-13, 2.5e-13);
    expect(Math.abs(countTest(5, 100, 60, 100).pValue - expected)).to.be.at.most(1e-15);
  });

  it('reports the rates and the effect, and p = 1 when nothing can be concluded', () => {
    expect(countTest(40, 1000, 70, 1000)).to.include({ before: 0.04, after: 0.07 });
    closeTo(countTest(40, 1000, 70, 1000).effect, 1.75, 1e-12, 'effect');
    expect(countTest(0, 10, 3, 10).effect).to.equal(Infinity);
    expect(countTest(0, 10, 0, 10)).to.include({ effect: 1, pValue: 1 });
    expect(countTest(3, 0, 5, 10).pValue).to.equal(1);
    expect(countTest(3, 10, 0, 10).pValue).to.equal(1);
  });
});

describe('immune/stats: mannWhitney (normal approximation, tie and continuity corrections)', () => {
  it('gives z = 2 and p = Q(2) on a sample without ties (derived by hand)', () => {
    // before (n₁ = 5): 10 20 30 40 50; after (n₂ = 9): 15 35 45 55 60 65 70 75 80.
    // U(after) = pairs with after > before = 1 + 3 + 4 + 6·5 = 38; mean n₁n₂/2 = 22.5;
    // σ² = n₁n₂(n + 1)/12 = 45·15/12 = 56.25, σ = 7.5; z = (38 − 22.5 − 0.5)/7.5 = 2 exactly; p = Q(2).
    // This is the statistic of R's wilcox.test(after, before, alternative = "greater", exact = FALSE, correct = TRUE)
    // (W = 38); the p-value above is derived by hand, not printed by R here.
    const r = mannWhitney([10, 20, 30, 40, 50], [15, 35, 45, 55, 60, 65, 70, 75, 80]);
    expect(r.u).to.equal(38);
    closeTo(r.z, 2, 1e-12, 'z');
    closeTo(r.pValue, Q2, 1e-9, 'p');
  });

  it('applies the tie correction: z = 2 and z = 3 on tied samples (derived by hand)', () => {
    // before: 2 2 2 2 2 2 3; after: 1 3 3 3 3 3 3 (n₁ = n₂ = 7, n = 14).
    // Midranks: 1 → 1; six 2s → ranks 2…7, 4.5 each; seven 3s → ranks 8…14, 11 each.
    // Rank sum of after = 1 + 6·11 = 67; U = 67 − 7·8/2 = 39. Ties Σ(t³ − t) = (216 − 6) + (343 − 7) = 546.
    // σ² = (49/12)·(15 − 546/(14·13)) = (49/12)·12 = 49, σ = 7; z = (39 − 24.5 − 0.5)/7 = 2; p = Q(2).
    const two = mannWhitney([2, 2, 2, 2, 2, 2, 3], [1, 3, 3, 3, 3, 3, 3]);
    expect(two.u).to.equal(39);
    closeTo(two.z, 2, 1e-12, 'z (ties)');
    closeTo(two.pValue, Q2, 1e-9, 'p (ties)');
    // before: 1 2 2 2 2 2 2; after: 2 3 3 3 3 3 3. Seven 2s → ranks 2…8, 5 each; six 3s → ranks 9…14, 11.5 each.
    // Rank sum of after = 5 + 6·11.5 = 74; U = 46; ties (343 − 7) + (216 − 6) = 546 again, σ = 7;
    // z = (46 − 24.5 − 0.5)/7 = 3; p = Q(3).
    const three = mannWhitney([1, 2, 2, 2, 2, 2, 2], [2, 3, 3, 3, 3, 3, 3]);
    expect(three.u).to.equal(46);
    closeTo(three.z, 3, 1e-12, 'z (ties)');
    closeTo(three.pValue, Q3, 1e-9, 'p (ties)');
  });

  it('computes U as the count of (after, before) pairs the after value wins, ties ½, on random tied samples', () => {
    const random = seededRandom(21);
    for (let round = 0; round < 50; round++) {
      const before = Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 12));
      const after = Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 12));
      let pairs = 0;
      for (const a of after) for (const b of before) pairs += a > b ? 1 : a === b ? 0.5 : 0;
      expect(mannWhitney(before, after).u, `round ${round}`).to.equal(pairs);
    }
  });

  it('is one-sided: a sample shifted down gives p = 1 − Q(z) of the mirrored case', () => {
    // Swapping the samples of the no-tie case: U = 45 − 38 = 7, z = (7 − 22.5 − 0.5)/7.5 = −16/7.5.
    const r = mannWhitney([15, 35, 45, 55, 60, 65, 70, 75, 80], [10, 20, 30, 40, 50]);
    expect(r.u).to.equal(7);
    closeTo(r.z, -16 / 7.5, 1e-12, 'z');
    expect(r.pValue).to.be.above(0.98);
  });

  it('gives p = 1 with an empty side or when every value is equal', () => {
    expect(mannWhitney([], [1, 2]).pValue).to.equal(1);
    expect(mannWhitney([3, 3, 3], [3, 3]).pValue).to.equal(1);
  });
});

describe('immune/stats: median and samplesOfBuckets', () => {
  it('takes the middle value, or the mean of the two middle values', () => {
    expect(median([5, 1, 3])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([])).to.be.NaN;
  });

  it('puts one observation per count at its bucket bound, scaled down to the cap', () => {
    expect(samplesOfBuckets([0.1, 0.5, 1], [2, 0, 1])).to.deep.equal([0.1, 0.1, 1]);
    expect(samplesOfBuckets([1, 2], [300, 100], 40)).to.deep.equal([...Array(30).fill(1), ...Array(10).fill(2)]);
  });
});
