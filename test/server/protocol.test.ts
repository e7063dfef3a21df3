import { expect } from 'chai';
import { MAX_LABELS, PROTOCOL_VERSION, labelsMatch, parseLabel, parseRunnerMessage } from '../../server/protocol.js';

const hello = (extra: Record<string, unknown>) => JSON.stringify({
  type: 'hello', protocol: PROTOCOL_VERSION, token: 't', name: 'r1', slots: 1, version: 'x', ...extra,
});

describe('protocol: runner labels (version 2)', () => {
  it('is version 2 and takes labels in hello, absent meaning none', () => {
    expect(PROTOCOL_VERSION).to.equal(2);
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
