/**
 * Unit credentials: each `assign` carries a random token for that unit only (protocol v3
 * `unitToken`). The runner fetches the unit's code with it instead of its own token, and may give
 * it to the unit (GREENGATE_UNIT_TOKEN). The server's git HTTP accepts it for the unit's
 * repository only, and only while SQLite says the unit is running on the runner it was issued
 * to: once the unit ends (finished, lost, cancelled, requeued) it is refused.
 *
 * Kept in memory as sha256 hashes, never the token itself; at most MAX_UNIT_TOKENS (the oldest
 * are forgotten). A server restart forgets them all: units claimed after it already have their
 * code; an artifact upload of a unit assigned before it is refused (401, web/artifactsApi.ts says
 * the server restarted: `since`), its unit fails that attempt and is tried again with a new one.
 */
import { createHash, randomBytes } from 'node:crypto';

export const MAX_UNIT_TOKENS = 10_000;

interface Issued { unit: number; runnerId: number; repo: string }
/** What the check needs to know of a unit: where it runs now (absent: no such unit). */
export type UnitLookup = (unit: number) => { state: string; runnerId: number | null; repo: string } | undefined;

export class UnitTokens {
  private readonly byHash = new Map<string, Issued>();
  /** When this server process started issuing (ms): a unit assigned before it holds a credential it never knew. */
  readonly since = Date.now();

  constructor(private readonly lookup: UnitLookup) {}

  /** A new credential for `unit` on `runnerId`, valid for `repo`. */
  issue(unit: number, runnerId: number, repo: string): string {
    const token = randomBytes(32).toString('hex');
    if (this.byHash.size >= MAX_UNIT_TOKENS) this.byHash.delete(this.byHash.keys().next().value!);
    this.byHash.set(hash(token), { unit, runnerId, repo });
    return token;
  }

  /**
   * The unit `token` was issued for, while SQLite says it runs on the runner it was issued to;
   * null otherwise (an artifact upload checks it: web/artifactsApi.ts). A token whose unit has ended is forgotten.
   */
  runningUnit(token: string): number | null {
    if (!/^[0-9a-f]{64}$/.test(token)) return null;
    const key = hash(token);
    const issued = this.byHash.get(key);
    if (!issued) return null;
    const now = this.lookup(issued.unit);
    if (!now || now.state !== 'running' || now.runnerId !== issued.runnerId) {
      this.byHash.delete(key);
      return null;
    }
    return issued.unit;
  }

  /** Whether `token` lets its holder fetch `repo` now. A token whose unit has ended is forgotten. */
  allows(token: string, repo: string): boolean {
    if (!/^[0-9a-f]{64}$/.test(token)) return false;
    const key = hash(token);
    const issued = this.byHash.get(key);
    if (!issued) return false;
    const now = this.lookup(issued.unit);
    if (!now || now.state !== 'running' || now.runnerId !== issued.runnerId) {
      this.byHash.delete(key);
      return false;
    }
    return issued.repo === repo && now.repo === repo;
  }
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
