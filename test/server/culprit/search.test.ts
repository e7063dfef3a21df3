import { expect } from 'chai';
import { decide, defaultOptions, observe, posterior, startSearch, type SearchOptions } from '../../../server/culprit/search.js';

/** mulberry32: a small seeded generator, so the simulation is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs one search against a simulated blamelist; `runAt` answers whether the failing tests fail at a position. */
function run(n: number, runAt: (position: number) => boolean, opts: SearchOptions) {
  let state = startSearch(n, true);
  for (;;) {
    const d = decide(state, opts);
    if (d.kind === 'done') return { ...d, probes: state.probes };
    state = observe(state, d.position, runAt(d.position));
  }
}

describe('culprit search (pure)', () => {
  it('names a deterministic culprit (no flakes in the history) within ⌈log₂ n⌉ + 2 probes for every blamelist of 2–50 and every position', () => {
    for (let n = 2; n <= 50; n++) {
      for (let culprit = 1; culprit <= n; culprit++) {
        const r = run(n, (p) => p >= culprit, defaultOptions(n)); // a test with no flakes in its history
        expect(r, `n=${n} culprit=${culprit}`).to.include({ culprit, confirmed: true });
        expect(r.probes, `n=${n} culprit=${culprit}`).to.be.at.most(Math.ceil(Math.log2(n)) + 2);
      }
    }
  });

  it('simulation: 1,000 seeded cases, blamelists of 2–50, 5 % flake rate: ≥ 99 % named right', function () {
    const random = seeded(15);
    const flake = 0.05;
    let right = 0;
    let confirmed = 0;
    let wrongConfirmed = 0;
    let probes = 0;
    const cases = 1000;
    for (let i = 0; i < cases; i++) {
      const n = 2 + Math.floor(random() * 49);
      const culprit = 1 + Math.floor(random() * n);
      const r = run(n, (p) => (p >= culprit) !== (random() < flake), defaultOptions(n, flake));
      if (r.culprit === culprit) right++;
      if (r.confirmed) confirmed++;
      if (r.confirmed && r.culprit !== culprit) wrongConfirmed++;
      probes += r.probes;
    }
    const report = { cases, accuracy: right / cases, confirmed: confirmed / cases, wrongConfirmed, meanExtraBuilds: probes / cases };
    console.log(`      simulation: ${JSON.stringify(report)}`);
    expect(report.accuracy).to.be.at.least(0.99);
    expect(wrongConfirmed / cases).to.be.below(0.01);
  });

  it('calls a head failure that does not come back a flake, and names no culprit', () => {
    const r = run(8, () => false, defaultOptions(8, 0.05));
    expect(r).to.include({ culprit: null, confirmed: true });
  });

  it('says no culprit is in the blamelist when the base fails too', () => {
    let state = startSearch(6, false);
    const opts = defaultOptions(6, 0.05);
    for (let i = 0; i < 40; i++) {
      const d = decide(state, opts);
      if (d.kind === 'done') { expect(d.culprit).to.equal(null); return; }
      state = observe(state, d.position, true);
    }
    expect.fail('the search did not end');
  });

  it('gives up unconfirmed after its budget, naming the most likely commit', () => {
    const opts = { ...defaultOptions(4, 0.3), maxProbes: 3 };
    let flip = false;
    const r = run(4, (p) => { flip = !flip; return p >= 2 ? flip : !flip; }, opts);
    expect(r.confirmed).to.equal(false);
    expect(r.probes).to.equal(3);
  });

  it('has a posterior that sums to one and favours the observed break', () => {
    let s = startSearch(4, true);
    s = observe(s, 2, false);
    s = observe(s, 3, true);
    const p = posterior(s, 0.05);
    expect(p.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-9);
    expect(p.indexOf(Math.max(...p))).to.equal(3);
  });

  it('has the posterior Bayes\' rule gives by hand (uniform prior, each run wrong with probability f)', () => {
    // n = 1, base passed once, head failed once; hypotheses k = 0 (broken before), 1 (the commit), 2 (a flake).
    // Likelihoods: k=0: f·(1−f); k=1: (1−f)²; k=2: (1−f)·f. Normalised: [f, 1−f, f] / (1 + f); f = 0.05 → [1, 19, 1] / 21.
    const one = posterior(startSearch(1, true), 0.05);
    [1 / 21, 19 / 21, 1 / 21].forEach((want, k) => expect(Math.abs(one[k] - want) / want, `k=${k}`).to.be.below(1e-12));
    // n = 2, position 1 both passed and failed once; f = 0.1, p = 0.9. Likelihoods: k=0: f²p², k=1: fp³, k=2: fp³, k=3: f²p²,
    // i.e. ∝ [f, p, p, f]; normalised: [0.05, 0.45, 0.45, 0.05].
    const two = posterior(observe(observe(startSearch(2, true), 1, false), 1, true), 0.1);
    [0.05, 0.45, 0.45, 0.05].forEach((want, k) => expect(Math.abs(two[k] - want) / want, `k=${k}`).to.be.below(1e-12));
  });

  it('refuses an empty blamelist and a position outside it', () => {
    expect(() => startSearch(0, true)).to.throw(/at least one commit/);
    expect(() => observe(startSearch(3, true), 4, true)).to.throw(/outside 0..3/);
  });
});
