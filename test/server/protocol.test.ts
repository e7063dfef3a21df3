import { expect } from 'chai';
import { PROTOCOL_VERSION, parseRunnerMessage, parseServerMessage } from '../../server/protocol.js';
import { GgError as ProtocolError } from '../../server/errors.js';

describe('server/protocol: workspace cache fields (v2)', () => {
  const finished = { type: 'finished', unit: 1, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 0, durationMs: 5 };
  const assign = {
    type: 'assign', unit: 1, build: 1, repo: { name: 'shop', url: '/srv/git/shop.git' }, ref: 'refs/heads/main', branch: 'main',
    sha: 'a'.repeat(40), files: [], attempt: 1, builder: { name: 'unit', setup: 'npm ci', run: 'npm test', junit: null, timeout: 600 },
  };

  it('is version 2', () => {
    expect(PROTOCOL_VERSION).to.equal(2);
  });

  it('reads a finished without setupMs and cacheHit as null, and with them as sent', () => {
    expect(parseRunnerMessage(JSON.stringify(finished))).to.include({ setupMs: null, cacheHit: null });
    expect(parseRunnerMessage(JSON.stringify({ ...finished, setupMs: 120, cacheHit: true }))).to.include({ setupMs: 120, cacheHit: true });
    expect(() => parseRunnerMessage(JSON.stringify({ ...finished, cacheHit: 'yes' }))).to.throw(ProtocolError, 'cacheHit');
    expect(() => parseRunnerMessage(JSON.stringify({ ...finished, setupMs: -1 }))).to.throw(ProtocolError, 'setupMs');
  });

  it('reads an assign without cache as the runner\'s defaults (null) and refuses a cache path outside the workspace', () => {
    const plain = parseServerMessage(JSON.stringify(assign));
    expect(plain.type === 'assign' && plain.builder).to.include({ cache: null, setupOnHit: null });
    const withCache = { ...assign, builder: { ...assign.builder, cache: [{ paths: ['node_modules'], key: ['package-lock.json'] }], setupOnHit: 'npm run build' } };
    const parsed = parseServerMessage(JSON.stringify(withCache));
    expect(parsed.type === 'assign' && parsed.builder.cache).to.deep.equal([{ paths: ['node_modules'], key: ['package-lock.json'] }]);
    for (const bad of ['../up', '/etc', '.git', 'a/.git/hooks']) {
      const msg = { ...assign, builder: { ...assign.builder, cache: [{ paths: [bad], key: ['x'] }] } };
      expect(() => parseServerMessage(JSON.stringify(msg)), bad).to.throw(ProtocolError, 'builder.cache.0.paths.0');
    }
  });
});
