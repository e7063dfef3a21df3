import { expect } from 'chai';
import { parseConfig } from '../../../server/config/config.js';
import { tempHome } from '../../helpers.js';

describe('flags.rollouts in greengate.yml (guarded incremental rollouts)', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome(); });
  afterEach(() => home.cleanup());
  const METRICS = `metrics: [{ name: errors, kind: ratio, errors: 'app_requests_total{status="500"}', total: app_requests_total }]`;
  const parse = (rollout: string) => parseConfig(`runnerToken: runner-token-1234\nrepositories:\n` +
    `  - { name: shop, path: /srv/shop.git, gate: [main], builders: [{ name: unit, run: "true" }], flags: { file: flags.json, token: "\${SHOP_FLAGS}", rollouts: { new-checkout: ${rollout} } } }\n`,
  { baseDir: home.dir, env: { SHOP_FLAGS: 'shop-flags-token-00001' } });
  const good = (extra = '') => `{ variant: "on", steps: [1, 5, 10, 25, 50, 100], hold: 600, source: { prometheus: "http://prom:9090" }, ${METRICS}${extra} }`;

  it('reads a rollout with its defaults (minSample 1000, alpha 0.002, maxIncrease 1.5)', () => {
    const r = parse(good()).repositories[0].flags!.rollouts!['new-checkout'];
    expect(r).to.deep.include({ variant: 'on', steps: [1, 5, 10, 25, 50, 100], hold: 600, minSample: 1000, alpha: 0.002, maxIncrease: 1.5 });
  });

  it('refuses steps that fall, are out of 1–100 or missing, no ratio metric, no source, unknown keys — naming the key path and the fix', () => {
    expect(() => parse(good().replace('[1, 5, 10, 25, 50, 100]', '[1, 10, 5, 100]'))).to.throw(/rollouts\.new-checkout\.steps: must rise strictly .* a share that falls would take the feature from people who had it/);
    expect(() => parse(good().replace('[1, 5, 10, 25, 50, 100]', '[0, 100]'))).to.throw(/steps\[0\]: each step must be 1 to 100/);
    expect(() => parse(good().replace('[1, 5, 10, 25, 50, 100]', '[]'))).to.throw(/steps: needs at least one step/);
    expect(() => parse(good().replace(METRICS, "metrics: [{ name: signups, kind: rate, counter: signups_total }]"))).to.throw(/metrics: needs a ratio metric: its total counts the exposures/);
    expect(() => parse(good().replace('source: { prometheus: "http://prom:9090" }, ', ''))).to.throw(/rollouts\.new-checkout\.source: missing required key "source"/);
    expect(() => parse(good(', colour: red'))).to.throw(/colour/);
    expect(() => parse(good().replace('hold: 600', 'hold: 0'))).to.throw(/hold: must be a number of seconds each step is held from 1/);
  });
  it('takes source: { scrape: URL } (greengate scrapes the app\'s /metrics itself, every second by default) and refuses a scrape that is not a URL', () => {
    const r = parse(good().replace('{ prometheus: "http://prom:9090" }', '{ scrape: "http://127.0.0.1:8080/metrics" }')).repositories[0].flags!.rollouts!['new-checkout'];
    expect(r.source).to.deep.equal({ scrape: 'http://127.0.0.1:8080/metrics', interval: 1 });
    expect(() => parse(good().replace('{ prometheus: "http://prom:9090" }', '{ scrape: "app:8080" }'))).to.throw(/source/);
    expect(() => parse(good().replace('{ prometheus: "http://prom:9090" }', '{ graphite: "http://g" }'))).to.throw(/source\.graphite: unknown key "graphite"/);
    expect(() => parse(good().replace('{ prometheus: "http://prom:9090" }', '{ prometheus: "http://prom:9090", scrape: "http://127.0.0.1:8080/metrics" }'))).to.throw(/give exactly one of prometheus: URL .* or scrape: URL/);
  });
});
