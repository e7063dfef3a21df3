import { expect } from 'chai';
import { branchOfQueueRef, refuseQueueOnly } from '../../../server/queue/entry.js';

describe('queue/entry', () => {
  const sha = 'a'.repeat(40);
  const accepted = { accept: true, lines: ['greengate: main: tree open, accepted'], passes: [] as { ref: string; kind: string }[] };

  it('reads the branch of a refs/for/ ref, and nothing else', () => {
    expect(branchOfQueueRef('refs/for/main')).to.equal('main');
    expect(branchOfQueueRef('refs/for/release/1.0')).to.equal('release/1.0');
    expect(branchOfQueueRef('refs/for/')).to.equal(null);
    expect(branchOfQueueRef('refs/heads/main')).to.equal(null);
  });

  it('refuses a direct push to a queue-only branch, pointing at refs/for/, and leaves queue branches and others alone', () => {
    const refused = refuseQueueOnly(accepted, { land: { main: 'queue-only' } }, [{ ref: 'refs/heads/main', new: sha }]);
    expect(refused.accept).to.equal(false);
    expect(refused.lines[0]).to.contain('git push origin HEAD:refs/for/main');
    expect(refuseQueueOnly(accepted, { land: { main: 'queue' } }, [{ ref: 'refs/heads/main', new: sha }]).accept).to.equal(true);
    expect(refuseQueueOnly(accepted, { land: { main: 'queue-only' } }, [{ ref: 'refs/heads/topic', new: sha }]).accept).to.equal(true);
    expect(refuseQueueOnly(accepted, { land: { main: 'queue-only' } }, [{ ref: 'refs/heads/main', new: '0'.repeat(40) }]).accept, 'a deletion: other rules').to.equal(true);
  });

  it('lets a revert, fix or bypass through a closed tree land directly on a queue-only branch (the queue waits while it is closed)', () => {
    const pass = { ...accepted, lines: ['greengate: main: exact revert, accepted'], passes: [{ ref: 'refs/heads/main', kind: 'revert' }] };
    expect(refuseQueueOnly(pass, { land: { main: 'queue-only' } }, [{ ref: 'refs/heads/main', new: sha }])).to.equal(pass);
  });
});
