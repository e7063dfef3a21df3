import { expect } from 'chai';
import { culpritNotice, revertNotice } from '../../../server/culprit/notices.js';

describe('culprit and revert notices (culprit/notices.ts)', () => {
  const sha = '0123456789abcdef0123456789abcdef01234567';
  const facts = { repo: 'shop', branch: 'main', builder: 'unit', build: 7, sha, confirmed: true, confidence: 0.99, outcome: 'confirmed',
    author: 'Ada', subject: 'break things', builds: [8, 9] };

  it('says who broke which build, confirmed or suspected, or that no single commit could be named — keeping every fact', () => {
    expect(culpritNotice(facts)).to.deep.equal({ ...facts, text: 'shop/main: build 7 was broken by 0123456789 by Ada: break things (confirmed)' });
    expect(culpritNotice({ ...facts, confirmed: false, author: null, subject: null }).text).to.equal('shop/main: build 7 was broken by 0123456789 (suspected)');
    expect(culpritNotice({ ...facts, sha: null }).text).to.equal('shop/main: no single commit of build 7\'s blamelist could be named as the culprit');
  });

  it('says what greengate reverted, or why it did not', () => {
    const r = { repo: 'shop', branch: 'main', build: 7, culprit: sha, author: 'Ada', subject: 'break things', url: 'http://ci/builds/7' };
    expect(revertNotice({ ...r, revert: 'f'.repeat(40) }).text).to.equal('shop/main: greengate reverted 0123456789 by Ada: break things (red build 7)');
    expect(revertNotice({ ...r, reason: 'the branch moved on' })).to.deep.equal({ ...r, reason: 'the branch moved on',
      text: 'shop/main: greengate did not revert 0123456789: the branch moved on' });
  });
});
