import { expect } from 'chai';
import { badgeStatus, renderBadge } from '../../../server/web/badge.js';

describe('web/badge: a branch status from its builders\' newest finished builds, drawn as SVG', () => {
  const done = (builder: string, result: 'passed' | 'failed' | 'flaky' | 'exception', id = 1) => ({ builder, result, id });

  it('is failed when any builder\'s newest finished build failed or broke, passed when all passed (flaky included)', () => {
    expect(badgeStatus({ finished: [done('unit', 'passed'), done('lint', 'failed')], unfinished: false })).to.equal('failed');
    expect(badgeStatus({ finished: [done('unit', 'exception')], unfinished: true })).to.equal('failed');
    expect(badgeStatus({ finished: [done('unit', 'passed'), done('lint', 'flaky')], unfinished: true })).to.equal('passed');
  });

  it('is running before the branch has any finished build, unknown without builds', () => {
    expect(badgeStatus({ finished: [], unfinished: true })).to.equal('running');
    expect(badgeStatus({ finished: [], unfinished: false })).to.equal('unknown');
  });

  it('draws fixed text only, sized to it, with its colour and an accessible name', () => {
    for (const [status, colour] of [['passed', '#2da44e'], ['failed', '#cf222e'], ['running', '#bf8700'], ['unknown', '#8c959f']] as const) {
      const svg = renderBadge(status);
      expect(svg).to.match(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="20" role="img"/);
      expect(svg).to.contain(`aria-label="build: ${status}"`).and.contain(`fill="${colour}"`).and.contain(`>${status}</text>`);
      expect(svg).to.not.match(/<script|on\w+=/i);
    }
    const width = (s: string) => Number(/width="(\d+)"/.exec(s)![1]);
    expect(width(renderBadge('unknown'))).to.be.greaterThan(width(renderBadge('failed')));
  });
});
