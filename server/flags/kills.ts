/**
 * The kill switch of feature flags: an admin kills a flag (it then serves its defaultVariant, or
 * the SDK's code default, to every context: evaluator.ts) and restores it, without a push and
 * whatever the tree's state. Each kill and restore is a row of flag_events (store/flags.ts, migration
 * 030) with the admin's name and message, and a notification (flag.killed / flag.restored), written
 * in one transaction; the in-memory set every evaluation reads is updated after it commits, so the
 * next evaluation sees it. Loaded from SQLite at start-up: a kill survives a restart.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { Outbox } from '../notify/outbox.js';
import type { FlagEventRow } from '../store/flags.js';
import type { KillLookup } from './evaluator.js';
import { fail } from '../errors.js';

export interface KillState { actor: string; message: string | null; at: number }

export class FlagKills {
  private readonly killed = new Map<string, KillState>();

  constructor(private readonly deps: { store: Store; outbox: Pick<Outbox, 'enqueue'>; log: Logger; baseUrl: () => string;
    /** Whether the repository's served flags define `key` (kills of unknown flags are refused). */
    defines(repo: string, key: string): boolean }) {
    for (const row of deps.store.flags.killed()) this.killed.set(id(row.repo, row.key), { actor: row.actor, message: row.message, at: row.at });
  }

  /** The lookup evaluations of one repository use. */
  lookup(repo: string): KillLookup {
    return (key) => this.killed.get(id(repo, key)) ?? null;
  }

  /** Every killed flag of a repository. */
  killedIn(repo: string): { key: string; state: KillState }[] {
    const prefix = `${repo}\0`;
    return [...this.killed].filter(([k]) => k.startsWith(prefix)).map(([k, state]) => ({ key: k.slice(prefix.length), state }));
  }

  history(repo: string, key: string): FlagEventRow[] {
    const row = this.deps.store.repos.byName(repo);
    return row ? this.deps.store.flags.history(row.id, key) : [];
  }

  kill(repo: string, key: string, actor: string, message: string | null): KillState {
    return this.change(repo, key, 'kill', actor, message);
  }

  restore(repo: string, key: string, actor: string, message: string | null = null): KillState | null {
    this.change(repo, key, 'restore', actor, message);
    return null;
  }

  private change(repo: string, key: string, action: 'kill' | 'restore', actor: string, message: string | null): KillState {
    const row = this.deps.store.repos.byName(repo);
    if (!row) fail('GG_UNKNOWN_REPO', `unknown repository "${repo.slice(0, 100)}": it is not in greengate.yml`);
    if (action === 'kill' && !this.deps.defines(repo, key)) {
      fail('GG_FLAG_NOT_FOUND', `repository ${repo} serves no flag "${key.slice(0, 100)}": check the key in its flags file (greengate serves the file at the head of its first gated branch)`);
    }
    const at = Date.now();
    const state: KillState = { actor, message, at };
    const link = `${this.deps.baseUrl()}/flags/${encodeURIComponent(repo)}/${encodeURIComponent(key)}`;
    this.deps.store.tx(() => {
      this.deps.store.flags.add({ repoId: row!.id, key, action, actor, message, at });
      const verb = action === 'kill' ? 'killed' : 'restored';
      this.deps.outbox.enqueue(action === 'kill' ? 'flag.killed' : 'flag.restored', {
        text: `${repo}: feature flag ${key} ${verb} by ${actor}${message ? `: ${message}` : ''}\n${link}`,
        repo, branch: null, key, actor, message, link }, { repo });
      this.deps.store.afterCommit(() => {
        if (action === 'kill') this.killed.set(id(repo, key), state);
        else this.killed.delete(id(repo, key));
        this.deps.log.warn({ repo, key, actor }, `feature flag ${verb}`);
      });
    });
    return state;
  }
}

function id(repo: string, key: string): string {
  return `${repo}\0${key}`;
}
