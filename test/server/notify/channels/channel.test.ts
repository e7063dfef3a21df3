import { expect } from 'chai';
import { eventsSchema, permanentFailure, takes } from '../../../../server/notify/channels/channel.js';

describe('what a channel is (notify/channels/channel.ts)', () => {
  it('takes a kind when events: is absent or lists it; an events: list is of known kinds and not empty', () => {
    expect(takes(undefined, 'tree.closed')).to.equal(true);
    expect(takes(['tree.closed'], 'tree.closed')).to.equal(true);
    expect(takes(['tree.reopened'], 'tree.closed')).to.equal(false);
    expect(eventsSchema.safeParse(['deploy.held', 'culprit.notFound']).success).to.equal(true);
    expect(eventsSchema.safeParse([]).error?.issues[0].message).to.equal('must list at least one event — or remove events: to take every event');
    expect(eventsSchema.safeParse(['tree.broke']).error?.issues[0].message).to.match(/^must be one of tree\.closed, tree\.reopened, /);
  });

  it('marks a failure no retry can mend', () => {
    expect(permanentFailure('gone')).to.deep.include({ message: 'gone', permanent: true });
  });
});
