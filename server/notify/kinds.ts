/**
 * The one vocabulary of notifications: every kind anything in the server may tell people about,
 * and the payload each kind carries. These names are the `events:` of `notify:` (README lists them)
 * and the `X-Greengate-Event` header; a payload is the webhook body (plus `event`, `delivery`,
 * `repo`, `branch`, `at`, added when sent). `text` is Slack-compatible, its first line the summary.
 * A leaf: it imports nothing, so config, the producers and the outbox all share it.
 *
 * Producers: notify/triggers.ts (tree.*, build.*, runner.lost, unit.waiting), culprit/finder.ts
 * (culprit.*), culprit/revert.ts (revert.*), deploy/orchestrator.ts (deploy.*), flags/kills.ts (flag.*), queue/speculation.ts (queue.*), each enqueuing
 * inside the transaction of its event (outbox.ts).
 */

export const NOTIFICATION_KINDS = [
  'tree.closed', 'tree.reopened', 'build.failed', 'build.fixed', 'runner.lost', 'unit.waiting',
  'revert.made', 'revert.refused', 'deploy.rolledBack', 'deploy.failed', 'deploy.held', 'culprit.found', 'culprit.notFound',
  'flag.killed', 'flag.restored', 'queue.ejected',
] as const;
export type NotificationKind = typeof NOTIFICATION_KINDS[number];

/** What every notification says; a kind adds its facts (further fields are allowed: a payload is JSON). */
export interface BasePayload { text: string; repo?: string | null; branch?: string | null; [field: string]: unknown }

export interface TreePayload extends BasePayload { repo: string; branch: string; automatic: boolean; actor: string | null; treeEvent: number; link: string }
export interface BuildPayload extends BasePayload { repo: string; branch: string; builder: string; link: string }
export interface RunnerLostPayload extends BasePayload { runner: { name: string; [k: string]: unknown }; reason: string; units: number[]; link: string }
export interface UnitWaitingPayload extends BasePayload { repo: string; branch: string; builder: string; units: number; waitedSeconds: number; link: string }
/** culprit.found / culprit.notFound: `sha` is null when no single commit could be named. */
export interface CulpritFacts {
  repo: string; branch: string; builder: string; build: number; sha: string | null; confirmed: boolean; confidence: number | null;
  outcome: string; author: string | null; subject: string | null; builds: number[];
}
export interface CulpritPayload extends BasePayload, CulpritFacts { repo: string; branch: string }
/** revert.made (`revert`: the revert commit) / revert.refused (`reason`). */
export interface RevertFacts {
  repo: string; branch: string; build: number; culprit: string; author: string | null; subject: string | null; url: string;
  revert?: string; reason?: string;
}
export interface RevertPayload extends BasePayload, RevertFacts { repo: string; branch: string }
export interface DeployStageFacts { name: string; state: string; verdict: unknown }
export interface DeployEndedPayload extends BasePayload {
  deploy: number; repo: string; branch: string; sha: string; commits: string[]; reason: string | null; url: string; stages: DeployStageFacts[];
}
/** flag.killed / flag.restored: an admin's kill switch of a feature flag (flags/kills.ts). */
export interface FlagPayload extends BasePayload { repo: string; key: string; actor: string; message: string | null; link: string }
/** queue.ejected: a change of the land queue left it without landing (`state` ejected: its candidate failed; conflict: it no longer applies). */
export interface QueueEjectedPayload extends BasePayload { repo: string; branch: string; change: number; commit: string; pusher: string | null; state: string; reason: string; link: string }
export interface DeployHeldPayload extends BasePayload { deploy: number; repo: string; branch: string; sha: string; reason: string | null; url: string }

/** The payload type of each kind: `outbox.enqueue(kind, payload)` accepts exactly this. */
export interface NotificationPayloads {
  'tree.closed': TreePayload;
  'tree.reopened': TreePayload;
  'build.failed': BuildPayload;
  'build.fixed': BuildPayload;
  'runner.lost': RunnerLostPayload;
  'unit.waiting': UnitWaitingPayload;
  'revert.made': RevertPayload;
  'revert.refused': RevertPayload;
  'deploy.rolledBack': DeployEndedPayload;
  'deploy.failed': DeployEndedPayload;
  'deploy.held': DeployHeldPayload;
  'culprit.found': CulpritPayload;
  'culprit.notFound': CulpritPayload;
  'flag.killed': FlagPayload;
  'flag.restored': FlagPayload;
  'queue.ejected': QueueEjectedPayload;
}
export type PayloadOf<K extends NotificationKind> = NotificationPayloads[K];

export type CulpritKind = 'culprit.found' | 'culprit.notFound' | 'revert.made' | 'revert.refused';
export type DeployAlertKind = 'deploy.rolledBack' | 'deploy.failed' | 'deploy.held';

export function isNotificationKind(s: string): s is NotificationKind {
  return (NOTIFICATION_KINDS as readonly string[]).includes(s);
}
