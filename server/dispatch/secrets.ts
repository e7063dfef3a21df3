/**
 * A builder's secrets on the server side: read from the server's environment or files the first
 * time one of its units is handed out (then kept in memory, never in SQLite, events or pages),
 * added to that unit's `assign` only, and listed for the gateway's second redaction of what the
 * unit reports (its log and every string of `finished`), with every other secret the server
 * holds (`always`, serverSecrets.ts).
 *
 * `completeAssign` also fills in the builder's `env` names, `maxLogBytes` and the build's params
 * (its declared defaults, over them what a hand-started build asked for; config/params.ts): the scheduler
 * builds `assign` from the plan; the gateway, where frames leave the server, completes it. A
 * secret that cannot be read is reported in `secretsError`: the runner does not run the unit and
 * reports an infrastructure error, so it ends `exception` (never red) with the reason.
 */
import type { BuilderConfig } from '../config/config.js';
import { readSecret } from '../config/secrets.js';
import { paramDefaults } from '../config/params.js';
import { hasSteps, stepsOf } from '../config/steps.js';
import { DEFAULT_MAX_LOG_BYTES, SecretMatcher, type AssignMessage } from '../protocol.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { Store } from '../store/index.js';

export interface UnitLogRules {
  /** What is replaced by REDACTED before a log chunk or a `finished` is stored (the protocol's rule). */
  matcher: SecretMatcher;
  maxLogBytes: number;
}

const CACHE_LIMIT = 1000; // builds whose rules are kept; older ones are looked up again

export class BuilderSecrets {
  private readonly values = new WeakMap<BuilderConfig, Record<string, string>>();
  private readonly byBuild = new Map<number, UnitLogRules>();

  constructor(private readonly store: Store, private readonly lifecycle: Pick<BuildLifecycle, 'builderOf' | 'stepOf'>, private readonly always: () => readonly string[]) {}

  /** The builder's secret values; throws with the reason when one cannot be read. */
  secretsOf(builder: BuilderConfig): Record<string, string> {
    let v = this.values.get(builder);
    if (!v) {
      v = {};
      for (const [name, source] of Object.entries(builder.secrets ?? {})) v[name] = readSecret(name, source);
      this.values.set(builder, v);
    }
    return v;
  }

  completeAssign(msg: AssignMessage): AssignMessage {
    const build = this.store.builds.get(msg.build);
    const builder = build && this.lifecycle.builderOf(build);
    if (!builder) return msg;
    const unit = hasSteps(builder) ? this.store.units.get(msg.unit) : undefined; // a builder without steps: its one step is itself
    const step = (unit && this.lifecycle.stepOf(build, unit)) ?? builder; // env and the log cap may differ per step; secrets are the builder's
    const spec: AssignMessage['builder'] = { ...msg.builder, maxLogBytes: step.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES };
    if (step.env?.length) spec.env = [...step.env];
    if (builder.params?.length) spec.params = { ...paramDefaults(builder.params), ...this.store.buildCauses.of(build.id)?.params };
    if (builder.secrets && Object.keys(builder.secrets).length) {
      try {
        spec.secrets = this.secretsOf(builder);
      } catch (err) {
        spec.secretsError = (err as Error).message;
      }
    }
    return { ...msg, builder: spec };
  }

  /** What the gateway applies to a chunk of the unit's log (its build's builder's rules). */
  rulesForBuild(buildId: number): UnitLogRules {
    const cached = this.byBuild.get(buildId);
    if (cached) return cached;
    const build = this.store.builds.get(buildId);
    const builder = build && this.lifecycle.builderOf(build);
    let secrets: string[] = [];
    try {
      secrets = builder ? Object.values(this.secretsOf(builder)) : [];
    } catch {
      // unreadable now: its units were not run (secretsError), so there is nothing of it to redact
    }
    const rules = { matcher: new SecretMatcher(new Set([...secrets, ...this.always()])), maxLogBytes: logCapOf(builder) };
    if (this.byBuild.size >= CACHE_LIMIT) this.byBuild.delete(this.byBuild.keys().next().value!);
    this.byBuild.set(buildId, rules);
    return rules;
  }
}

/** The server's cap on a unit's log for a build of this builder: the largest of its steps' (each runner cuts at its own step's). */
function logCapOf(builder: BuilderConfig | undefined): number {
  if (!builder) return DEFAULT_MAX_LOG_BYTES;
  return Math.max(...stepsOf(builder).map((s) => s.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES));
}
