import { expect } from 'chai';
import { MAX_DESCRIBED, describeEvidence, describeVerdict, evidenceSvg, formatNumber } from '../../../server/deploy/evidence.js';
import type { MetricEvidence } from '../../../server/deploy/hooks.js';

const evidence = (fields: Partial<MetricEvidence> = {}): MetricEvidence => ({
  metric: 'http_errors', kind: 'ratio', before: 0.01, after: 0.05, pValue: 0.000123, effect: 5, regression: true, ...fields,
});

describe('deploy/evidence: a verdict in words and charts', () => {
  it('formats numbers to four significant digits, tiny ones in exponent form', () => {
    expect([0, 1, 1234.5678, 0.1234567, 0.0001234, -0.00005, Infinity, NaN].map(formatNumber))
      .to.deep.equal(['0', '1', '1235', '0.1235', '1.23e-4', '-5.00e-5', 'Infinity', 'NaN']);
  });

  it('says numbers for people on the deploy page: plain values, p-values below 0.001 as "< 0.001"', () => {
    expect(describeEvidence(evidence({ pValue: 3.3e-16 }), true)).to.equal('http_errors 0.01 → 0.05 (×5, p < 0.001)');
    expect(describeEvidence(evidence({ before: 0.0001234, after: 20.0049, effect: 1.0512, pValue: 0.04321 }), true))
      .to.equal('http_errors 0.000123 → 20 (×1.05, p = 0.043)');
    expect(describeVerdict({ regression: true, evidence: [evidence({ pValue: 1e-12 })] }, true)).to.equal('http_errors 0.01 → 0.05 (×5, p < 0.001)');
  });

  it('names the regressed metrics (at most MAX_DESCRIBED, then how many more)', () => {
    expect(describeEvidence(evidence())).to.equal('http_errors 0.01 → 0.05 (×5, p=1.23e-4)');
    expect(describeVerdict({ regression: false, evidence: [evidence({ regression: false })] })).to.equal('no regression');
    expect(describeVerdict({ regression: true, evidence: [] })).to.equal('regression (an alert fired; no metric evidence)');
    const many = Array.from({ length: MAX_DESCRIBED + 2 }, (_, i) => evidence({ metric: `m${i}` }));
    const words = describeVerdict({ regression: true, evidence: [evidence({ metric: 'fine', regression: false }), ...many] });
    expect(words.split('; ').map((s) => s.split(' ')[0])).to.deep.equal(['m0', 'm1', `m2`]);
    expect(words).to.match(/ and 2 more$/);
  });

  it('draws bars without samples and lines with them, red after a regression, with every text escaped', () => {
    const bars = evidenceSvg(evidence({ metric: 'x"><script>alert(1)</script>' }));
    expect(bars).to.match(/^<svg [^>]*class="evidence-chart"/);
    expect(bars).not.to.contain('<script>');
    expect(bars).to.contain('data-metric="x&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"');
    expect(bars.match(/<rect /g)).to.have.length(2);
    expect(bars).to.match(/<rect class="after"[^>]*fill="#c62828"/);
    const lines = evidenceSvg(evidence({ regression: false, samplesBefore: [1, 2, 3], samplesAfter: [2, 2] }));
    expect(lines.match(/<polyline /g)).to.have.length(2);
    expect(lines).to.match(/<polyline class="after"[^>]*stroke="#2e7d32"/);
    expect(lines).to.contain('>max 3<');
  });
});
