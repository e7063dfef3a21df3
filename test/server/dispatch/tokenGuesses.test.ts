import { expect } from 'chai';
import { MAX_GUESSING_ADDRESSES, TokenGuesses } from '../../../server/dispatch/tokenGuesses.js';

describe('TokenGuesses', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => { now = 1_000; });

  it('blocks an address after `limit` wrong tokens until its window ends, and counts addresses apart', () => {
    const g = new TokenGuesses(3, 60_000, clock);
    for (let i = 0; i < 3; i++) { expect(g.blocked('10.0.0.1')).to.equal(false); g.wrong('10.0.0.1'); }
    expect(g.blocked('10.0.0.1')).to.equal(true);
    expect(g.blocked('10.0.0.2')).to.equal(false);
    expect(g.blocked('::ffff:10.0.0.1'), 'the same address over IPv6').to.equal(true);
    expect(g.retryMinutes('10.0.0.1')).to.equal(1);
    now += 60_000;
    expect(g.blocked('10.0.0.1')).to.equal(false);
  });

  it('remembers at most MAX_GUESSING_ADDRESSES, forgetting the oldest first', () => {
    const g = new TokenGuesses(1, 60_000, clock);
    g.wrong('first');
    for (let i = 0; i < MAX_GUESSING_ADDRESSES; i++) g.wrong(`a${i}`);
    expect(g.blocked('first')).to.equal(false);
    expect(g.blocked(`a${MAX_GUESSING_ADDRESSES - 1}`)).to.equal(true);
  });
});
