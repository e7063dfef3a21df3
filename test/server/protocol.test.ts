import { expect } from 'chai';
import { PROTOCOL_VERSION, parseRunnerMessage, parseServerMessage } from '../../server/protocol.js';
import { GgError as ProtocolError } from '../../server/errors.js';

describe('server/protocol: workspace cache fields (v2)', () => {
  const finished = { type: 'finished', unit: 1, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 0, durationMs: 5 };
  const assign = {
    type: 'assign', unit: 1, build: 1, repo: { name: 'shop', url: '/srv/git/shop.git' }, ref: 'refs/heads/main', branch: 'main',
    sha: 'a'.repeat(40), files: [], attempt: 1, builder: { name: 'unit', setup: 'npm ci', run: 'npm test', junit: null, timeout: 600 },
  };

  it('is version 4 (v2 fields still read)', () => {
    expect(PROTOCOL_VERSION).to.equal(4);
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

describe('server/protocol: sandbox and unit credential (v3)', () => {
  const assign = {
    type: 'assign', unit: 1, build: 1, repo: { name: 'shop', url: '/git/shop.git' }, ref: 'refs/heads/main', branch: 'main',
    sha: 'a'.repeat(40), files: [], attempt: 1, builder: { name: 'unit', setup: null, run: 'true', junit: null, timeout: 600 },
  };
  const sandbox = { network: false, readOnly: ['/opt/tools'], writable: ['/srv/out'], keepProcesses: false };

  it('reads an assign with a unit token and a builder sandbox, and one without either', () => {
    const m = parseServerMessage(JSON.stringify({ ...assign, unitToken: 'f'.repeat(64), builder: { ...assign.builder, sandbox } }));
    expect(m.type === 'assign' && m.unitToken).to.equal('f'.repeat(64));
    expect(m.type === 'assign' && m.builder.sandbox).to.deep.equal(sandbox);
    const plain = parseServerMessage(JSON.stringify(assign));
    expect(plain.type === 'assign' && [plain.unitToken, plain.builder.sandbox]).to.deep.equal([undefined, undefined]);
  });

  it('refuses a malformed unit token and sandbox paths that are relative or climb', () => {
    expect(() => parseServerMessage(JSON.stringify({ ...assign, unitToken: 'short' }))).to.throw(ProtocolError, 'unitToken');
    for (const bad of ['relative/path', '/srv/../etc']) {
      const msg = { ...assign, builder: { ...assign.builder, sandbox: { ...sandbox, writable: [bad] } } };
      expect(() => parseServerMessage(JSON.stringify(msg)), bad).to.throw(ProtocolError, 'builder.sandbox.writable.0');
    }
    const unknown = { ...assign, builder: { ...assign.builder, sandbox: { ...sandbox, privileged: true } } };
    expect(() => parseServerMessage(JSON.stringify(unknown))).to.throw(ProtocolError, 'sandbox');
  });
});

import { MAX_LABELS, labelsMatch, parseLabel } from '../../server/protocol.js';

const hello = (extra: Record<string, unknown>) => JSON.stringify({
  type: 'hello', protocol: PROTOCOL_VERSION, token: 't', name: 'r1', slots: 1, version: 'x', ...extra,
});

describe('protocol: runner labels (version 2)', () => {
  it('is version 4 and takes labels in hello, absent meaning none', () => {
    expect(PROTOCOL_VERSION).to.equal(4);
    const m = parseRunnerMessage(hello({ labels: { os: 'linux', 'team/area': 'build-1.2' } }));
    expect(m.type === 'hello' && m.labels).to.deep.equal({ os: 'linux', 'team/area': 'build-1.2' });
    const bare = parseRunnerMessage(hello({}));
    expect(bare.type === 'hello' && bare.labels).to.deep.equal({});
  });

  it('refuses bad labels in hello, naming what is wrong', () => {
    expect(() => parseRunnerMessage(hello({ labels: { 'bad key': 'x' } }))).to.throw(/label key "bad key": a key of letters/);
    expect(() => parseRunnerMessage(hello({ labels: { os: '' } }))).to.throw(/label values/);
    expect(() => parseRunnerMessage(hello({ labels: { os: 7 } }))).to.throw(/labels/);
    const many = Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, 'v']));
    expect(() => parseRunnerMessage(hello({ labels: many }))).to.throw(`at most ${MAX_LABELS} labels`);
  });

  it('takes the runner machine\'s CPUs in hello (optional: older runners do not say) and refuses a count that is not one', () => {
    const m = parseRunnerMessage(hello({ cpus: 8 }));
    expect(m.type === 'hello' && m.cpus).to.equal(8);
    const old = parseRunnerMessage(hello({}));
    expect(old.type === 'hello' && old.cpus).to.equal(undefined);
    expect(() => parseRunnerMessage(hello({ cpus: 0 }))).to.throw(/cpus/);
    expect(() => parseRunnerMessage(hello({ cpus: 2.5 }))).to.throw(/cpus/);
  });

  it('parses --label key=value and says how to write one', () => {
    expect(parseLabel('os=linux')).to.deep.equal(['os', 'linux']);
    expect(parseLabel('node=20.20')).to.deep.equal(['node', '20.20']);
    for (const bad of ['os', 'os=', '=linux', 'o s=linux', 'os=li nux', 'os=a=b']) {
      expect(() => parseLabel(bad), bad).to.throw(/is not key=value .* e\.g\. --label os=linux/);
    }
  });

  it('matches when the runner has every label the builder needs', () => {
    expect(labelsMatch({ os: 'linux', arch: 'arm64' }, { os: 'linux' })).to.equal(true);
    expect(labelsMatch({ os: 'linux' }, { os: 'linux', arch: 'arm64' })).to.equal(false);
    expect(labelsMatch(undefined, undefined)).to.equal(true);
    expect(labelsMatch(undefined, { os: 'linux' })).to.equal(false);
  });
});

describe('protocol: finished.fileTimes (version 2, optional)', () => {
  const finished = { type: 'finished', unit: 1, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 0, durationMs: 5 };
  const parse = (fileTimes: unknown) => parseRunnerMessage(JSON.stringify({ ...finished, fileTimes }));

  it('reads a finished without fileTimes (an older runner) and with them as sent', () => {
    const old = parseRunnerMessage(JSON.stringify(finished));
    expect(old.type === 'finished' && old.fileTimes).to.equal(undefined);
    const sent = [{ file: 'src/a.test.js', ms: 900 }, { file: 'src/b.test.js', ms: 0 }];
    const parsed = parse(sent);
    expect(parsed.type === 'finished' && parsed.fileTimes).to.deep.equal(sent);
  });

  it('refuses a time that is negative, not a number or too large, an empty or too long file, and unknown fields', () => {
    for (const [bad, where] of [
      [[{ file: 'a.js', ms: -1 }], 'fileTimes.0.ms'],
      [[{ file: 'a.js', ms: 'fast' }], 'fileTimes.0.ms'],
      [[{ file: 'a.js', ms: 1e9 + 1 }], 'fileTimes.0.ms'],
      [[{ file: 'a.js' }], 'fileTimes.0.ms'],
      [[{ file: '', ms: 1 }], 'fileTimes.0.file'],
      [[{ file: 'x'.repeat(4097), ms: 1 }], 'fileTimes.0.file'],
      [[{ file: 'a.js', ms: 1, extra: true }], 'fileTimes.0'],
      [{ 'a.js': 1 }, 'fileTimes'],
    ] as const) {
      expect(() => parse(bad), JSON.stringify(bad).slice(0, 60)).to.throw(ProtocolError, where);
    }
    // JSON has no Infinity or NaN: they arrive as null and are refused.
    expect(() => parseRunnerMessage(JSON.stringify({ ...finished, fileTimes: [{ file: 'a.js', ms: Infinity }] }))).to.throw(ProtocolError, 'fileTimes.0.ms');
  });

  it('refuses more entries than a finished may carry tests (100,000)', () => {
    const many = Array.from({ length: 100_001 }, (_, i) => ({ file: `f${i}`, ms: 1 }));
    expect(() => parse(many)).to.throw(ProtocolError, 'fileTimes');
    expect(() => parse(many.slice(1))).not.to.throw();
  });
});

describe('protocol: artifacts (version 4)', () => {
  const assign = {
    type: 'assign', unit: 1, build: 1, repo: { name: 'shop', url: '/git/shop.git' }, ref: 'refs/heads/main', branch: 'main',
    sha: 'a'.repeat(40), files: [], attempt: 1, builder: { name: 'unit', setup: null, run: 'true', junit: null, timeout: 600, artifacts: ['dist/**'] },
  };
  const ref = { path: 'dist/app.js', size: 3, sha256: 'b'.repeat(64), url: '/api/artifacts/1/download' };

  it('carries artifact globs and the files to download, each path inside the workspace', () => {
    const m = parseServerMessage(JSON.stringify({ ...assign, artifacts: [ref] }));
    expect(m.type === 'assign' && m.artifacts).to.deep.equal([ref]);
    expect(m.type === 'assign' && m.builder.artifacts).to.deep.equal(['dist/**']);
    for (const path of ['../x', '/etc/passwd', 'a//b', 'a/./b', '.git/config']) {
      expect(() => parseServerMessage(JSON.stringify({ ...assign, artifacts: [{ ...ref, path }] })), path).to.throw('artifacts.0.path');
    }
    expect(() => parseServerMessage(JSON.stringify({ ...assign, builder: { ...assign.builder, artifacts: ['/etc/*'] } }))).to.throw('builder.artifacts');
  });

  it('reads artifactsFailed on finished (absent: none failed)', () => {
    const finished = { type: 'finished', unit: 1, exitCode: 0, signal: null, timedOut: false, error: 'artifact x too large', chunks: 0, durationMs: 5 };
    expect(parseRunnerMessage(JSON.stringify({ ...finished, artifactsFailed: true }))).to.include({ artifactsFailed: true });
    expect(parseRunnerMessage(JSON.stringify(finished))).not.to.have.property('artifactsFailed');
  });
});
