/** What a runner is told about a builder (or one step of it, config/steps.ts) with each unit (protocol `assign.builder`). */
import type { BuilderConfig } from '../config/config.js';
import type { BuilderSpecMessage } from '../protocol.js';
import { toSandboxSpec } from '../config/sandbox.js';

export function toBuilderSpec(b: BuilderConfig & { matrix?: Readonly<Record<string, string>> | null }): BuilderSpecMessage {
  return {
    name: b.name, setup: b.setup, run: b.run, junit: b.junit, timeout: b.timeout,
    cache: b.cache ? b.cache.map((c) => ({ paths: [...c.paths], key: [...c.key] })) : null,
    setupOnHit: b.setupOnHit ?? null,
    ...(b.sandbox ? { sandbox: toSandboxSpec(b.sandbox) } : {}),
    ...(b.matrix ? { vars: { ...b.matrix } } : {}), // sent only for a matrix step: older runners refuse unknown keys
    ...(b.artifacts?.length ? { artifacts: [...b.artifacts] } : {}),
  };
}
