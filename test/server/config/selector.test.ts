import { expect } from 'chai';
import { MAX_SELECTOR_LENGTH, matchesLabels, parseSelector, renderSelector } from '../../../server/config/selector.js';

describe('config/selector: PromQL series selectors', () => {
  it('reads a name and =, !=, =~, !~ matchers, with escapes, and renders them back', () => {
    const sel = parseSelector(' http_requests_total{status=~"5..", job="shop" ,path!="/health\\"z", env!~"dev|test"} ');
    expect(sel).to.deep.equal({ name: 'http_requests_total', matchers: [
      { label: 'status', op: '=~', value: '5..' }, { label: 'job', op: '=', value: 'shop' },
      { label: 'path', op: '!=', value: '/health"z' }, { label: 'env', op: '!~', value: 'dev|test' },
    ] });
    expect(renderSelector(sel, '_bucket', [{ label: 'canary', op: '=', value: 'true' }]))
      .to.equal('http_requests_total_bucket{status=~"5..",job="shop",path!="/health\\"z",env!~"dev|test",canary="true"}');
    expect(parseSelector(renderSelector(sel))).to.deep.equal(sel);
    expect(parseSelector('up')).to.deep.equal({ name: 'up', matchers: [] });
    expect(renderSelector(parseSelector('up{}'))).to.equal('up');
  });

  it('refuses what is not a selector, saying what is wrong and the accepted form', () => {
    const form = /e\.g\. http_requests_total\{status=~"5\.\.",job="shop"\}/;
    expect(() => parseSelector('')).to.throw(/must be 1 to 1000 characters/);
    expect(() => parseSelector('x{a=b}')).to.throw(form);
    expect(() => parseSelector('x'.repeat(MAX_SELECTOR_LENGTH + 1))).to.throw(/must be 1 to/);
    expect(() => parseSelector('rate(x[5m])')).to.throw(/"rate\(x\[5m\]\)" is not a metric name/);
    expect(() => parseSelector('x{a="b"')).to.throw(/must end with "}"/);
    expect(() => parseSelector('x{a=b}')).to.throw(/cannot read the matcher at "a=b"/);
    expect(() => parseSelector('x{a=~"("}')).to.throw(/a=~"\(": not a regular expression/);
  });

  it('matches labels as Prometheus does: anchored expressions, a missing label is ""', () => {
    const { matchers } = parseSelector('x{status=~"5..",job="shop",canary!="true"}');
    expect(matchesLabels(matchers, { status: '503', job: 'shop' })).to.equal(true);
    expect(matchesLabels(matchers, { status: '5030', job: 'shop' }), 'anchored').to.equal(false);
    expect(matchesLabels(matchers, { status: '503', job: 'shop', canary: 'true' })).to.equal(false);
    expect(matchesLabels(parseSelector('x{env!~"dev|test"}').matchers, { env: 'devel' })).to.equal(true);
    expect(matchesLabels(parseSelector('x{env=""}').matchers, {})).to.equal(true);
    expect(matchesLabels(parseSelector('x{env=~"a|b"}').matchers, { env: 'xa' })).to.equal(false);
  });
});
