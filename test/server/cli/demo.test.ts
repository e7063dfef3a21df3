import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { demoFlags } from '../../../server/cli/demo.js';
import { appFiles, CHECKOUT_ERROR_RATES, DEMO_FLAGS, flagsTokenFile } from '../../../server/cli/demoApp.js';
import { parseConfig } from '../../../server/config/config.js';
import { checkFlagsFile } from '../../../server/flags/definitions.js';
import { ROOT, tempHome } from '../../helpers.js';

/** The demo's feature flags (issue 25 item 8), checked as greengate checks them; the whole story runs in `npm start` (integration/npmStart.test.ts). */
describe('the demo\'s feature flags', () => {
  it('pushes a flags.json the pre-receive check accepts, with a flag to ramp and a 50/50 A/B test', () => {
    const checked = checkFlagsFile(JSON.stringify(DEMO_FLAGS, null, 2), 'flags.json');
    expect(checked.ok, JSON.stringify(checked)).to.equal(true);
    expect(Object.keys(DEMO_FLAGS.flags)).to.deep.equal(['new-checkout', 'checkout-button']);
  });

  it('configures a guarded rollout of new-checkout that scrapes the canary app (no Prometheus), whose new variant fails more than the rule lets through', () => {
    const home = tempHome();
    try {
      const config = parseConfig(stringify({ runnerToken: 'runner-token-1234', repositories: [{ name: 'shop', path: '/srv/shop.git', gate: ['main'],
        builders: [{ name: 'unit', run: 'true' }], flags: demoFlags('shop-flags-token-0000', 41000) }] }), { baseDir: home.dir, env: {} });
      const rollout = config.repositories[0].flags!.rollouts!['new-checkout'];
      expect(rollout.source).to.deep.equal({ scrape: 'http://127.0.0.1:41000/metrics', interval: 1 });
      expect(rollout.steps.at(-1)).to.equal(100);
      expect(CHECKOUT_ERROR_RATES.on / CHECKOUT_ERROR_RATES.off).to.be.above(rollout.maxIncrease * 2);
    } finally { home.cleanup(); }
  });

  it('has the app read flags through the stock OpenFeature SDK and OFREP provider, shipped as dependencies (not devDependencies)', () => {
    const server = appFiles()['app/server.js'];
    expect(server).to.contain("from '@openfeature/server-sdk'").and.contain("from '@openfeature/ofrep-provider'").and.contain('/ofrep/v1/events');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const name of ['@openfeature/server-sdk', '@openfeature/ofrep-provider', '@openfeature/ofrep-core']) {
      expect(pkg.dependencies, name).to.have.property(name);
      expect(pkg.devDependencies, name).not.to.have.property(name);
    }
    expect(flagsTokenFile('/srv/demo/greengate-url')).to.equal('/srv/demo/flags-token');
  });
});
