import { expect } from 'chai';
import { isNotificationKind, NOTIFICATION_KINDS } from '../../../server/notify/kinds.js';
import { NOTIFICATION_KINDS as CONFIG_KINDS } from '../../../server/config/notify.js';
import { SAMPLE_PAYLOADS } from '../../notifyFixtures.js';

describe('the notification vocabulary (notify/kinds.ts)', () => {
  it('is one list: the config\'s events: take exactly these kinds, and each kind has a payload type (a sample of each compiles)', () => {
    expect(CONFIG_KINDS).to.equal(NOTIFICATION_KINDS);
    expect(Object.keys(SAMPLE_PAYLOADS).sort()).to.deep.equal([...NOTIFICATION_KINDS].sort());
    expect(NOTIFICATION_KINDS).to.include.members(['deploy.held', 'culprit.found', 'culprit.notFound', 'revert.made', 'revert.refused']);
  });

  it('tells a kind from any other string', () => {
    expect(isNotificationKind('tree.closed')).to.equal(true);
    expect(isNotificationKind('culprit-found')).to.equal(false); // culprit finding speaks the outbox's kinds now
  });
});
