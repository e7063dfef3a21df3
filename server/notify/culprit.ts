/**
 * Culprit finding's and the automatic revert's notifications (server/culprit/*, which speak their
 * own kinds) as outbox entries: culprit-found → culprit.found, culprit-not-found →
 * culprit.notFound, auto-revert → revert.made, auto-revert-refused → revert.refused. Called inside
 * the transaction that causes the event, like every enqueue. The culprit's author is mailed when
 * the repository's `email.blamelist` is on.
 */
import type { Notify } from '../culprit/finder.js';
import type { NotificationKind, Outbox } from './outbox.js';

const KINDS: Record<string, NotificationKind> = {
  'culprit-found': 'culprit.found', 'culprit-not-found': 'culprit.notFound',
  'auto-revert': 'revert.made', 'auto-revert-refused': 'revert.refused',
};

export function culpritNotifier(outbox: Pick<Outbox, 'enqueue'>): Notify {
  return (kind, payload, recipients) => {
    const k = KINDS[kind];
    if (!k) return;
    const repo = typeof payload.repo === 'string' ? payload.repo : null;
    outbox.enqueue(k, { ...payload, text: describe(kind, payload) }, { repo, emails: recipients });
  };
}

function describe(kind: string, p: Record<string, unknown>): string {
  const where = `${String(p.repo ?? '?')}/${String(p.branch ?? '?')}`;
  const sha = typeof p.sha === 'string' ? p.sha.slice(0, 10) : typeof p.culprit === 'string' ? p.culprit.slice(0, 10) : '?';
  const who = p.author ? ` by ${String(p.author)}` : '';
  const what = p.subject ? `: ${String(p.subject)}` : '';
  switch (kind) {
    case 'culprit-found': return `${where}: build ${String(p.build)} was broken by ${sha}${who}${what}${p.confirmed ? ' (confirmed)' : ' (suspected)'}`;
    case 'culprit-not-found': return `${where}: no single commit of build ${String(p.build)}'s blamelist could be named as the culprit`;
    case 'auto-revert': return `${where}: greengate reverted ${sha}${who}${what} (red build ${String(p.build ?? '?')})`;
    default: return `${where}: greengate did not revert ${sha}: ${String(p.reason ?? 'refused')}`;
  }
}
