/**
 * Culprit finding's and the automatic revert's notifications (culprit.found, culprit.notFound,
 * revert.made, revert.refused: server/culprit/* speaks the outbox's own kinds and writes the
 * text, culprit/notices.ts) into the outbox, inside the transaction that causes the event, like
 * every enqueue. The culprit's author is mailed when the repository's `email.blamelist` is on.
 */
import type { Notify } from '../culprit/finder.js';
import type { Outbox } from './outbox.js';

export function culpritNotifier(outbox: Pick<Outbox, 'enqueue'>): Notify {
  return (kind, payload, recipients) => { outbox.enqueue(kind, payload, { repo: payload.repo, emails: recipients }); };
}
