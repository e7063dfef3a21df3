import { expect } from 'chai';
import { BuilderSecrets } from '../../../server/dispatch/secrets.js';
import { DEFAULT_MAX_LOG_BYTES } from '../../../server/protocol.js';
import { builder, config, pipeline } from '../memory.js';

describe('dispatch/secrets: a build\'s log rules with steps', () => {
  it('caps a stepped build\'s logs at the largest of its steps\' maxLogBytes, and tells each unit its own step\'s', () => {
    const p = pipeline(config({ builders: [builder({ name: 'ci', tests: null, run: '', maxLogBytes: 1024, steps: [
      { name: 'build', run: 'make' }, { name: 'test', run: 'npm test', maxLogBytes: 4096 }] })] }));
    try {
      const secrets = new BuilderSecrets(p.store, p.lifecycle, () => []);
      const id = p.build([['x']], { builder: 'ci' });
      expect(secrets.rulesForBuild(id).maxLogBytes).to.equal(4096);
      const unit = p.store.units.create({ buildId: id, seq: 2, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
        avoidRunnerId: null, lostCount: 0, at: Date.now(), step: 'test' });
      const spec = { name: 'ci', setup: null, run: 'npm test', junit: null, timeout: 600, cache: null, setupOnHit: null };
      const msg = { type: 'assign' as const, unit, build: id, repo: { name: 'shop', url: 'x' }, ref: 'refs/heads/main', branch: 'main',
        sha: 'a'.repeat(40), files: [], attempt: 1, builder: spec };
      expect(secrets.completeAssign(msg).builder.maxLogBytes).to.equal(4096);
      const first = p.store.units.byBuild(id)[0].id; // a unit of no step of a stepped builder: the builder's own
      expect(secrets.completeAssign({ ...msg, unit: first }).builder.maxLogBytes).to.equal(1024);
      const plain = pipeline();
      try {
        expect(new BuilderSecrets(plain.store, plain.lifecycle, () => []).rulesForBuild(plain.build([['x']])).maxLogBytes).to.equal(DEFAULT_MAX_LOG_BYTES);
      } finally {
        plain.close();
      }
    } finally {
      p.close();
    }
  });
});
