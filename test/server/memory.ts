/**
 * The server's pipeline on the in-memory store, for fast unit tests: server/pipeline.ts's
 * createPipeline — the same function server/main.ts calls, so the same parts wired the same way
 * (culprit finding, notifications and deploys included) — without HTTP or sockets. A runner is a
 * FakeLink (the other end of the protocol: it records what the server sends it).
 */
import { pino } from 'pino';
import type { BuilderConfig, Config, RepositoryConfig } from '../../server/config/config.js';
import { openStore, type Store } from '../../server/store/index.js';
import type { Events } from '../../server/events.js';
import type { Tree } from '../../server/gate/tree.js';
import type { BuildLifecycle } from '../../server/results/lifecycle.js';
import type { RunnerRegistry, RunnerLink } from '../../server/dispatch/registry.js';
import type { WorkQueue } from '../../server/dispatch/queue.js';
import type { Splitter } from '../../server/planning/splitter.js';
import type { Intake } from '../../server/changes/intake.js';
import { createPipeline, type Pipeline as ServerPipeline } from '../../server/pipeline.js';
import type { FinishedMessage, ServerMessage, TestCase } from '../../server/protocol.js';

export const SHA_A = 'a'.repeat(40);
export const SHA_B = 'b'.repeat(40);
export const SHA_C = 'c'.repeat(40);

export function builder(fields: Partial<BuilderConfig> = {}): BuilderConfig {
  return { name: 'unit', setup: null, tests: 'test/*.test.js', run: 'node --test "$@"', junit: null, timeout: 600,
    quarantine: [], unitTargetSeconds: 2, ...fields };
}

export function config(repo: Partial<RepositoryConfig> = {}): Config {
  return { port: 0, data: '/nonexistent', baseUrl: 'http://ci.test', runnerToken: 'runner-token', adminToken: 'admin-token',
    repositories: [{ name: 'shop', path: '/nonexistent/shop.git', gate: ['main'], builders: [builder()], ...repo }] };
}

/** Just the in-memory store, with the repository "shop" in it; close `store` when done. */
export function shopStore(): { store: Store; repoId: number } {
  const store = openStore(':memory:');
  return { store, repoId: store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id };
}

/** A runner as the server sees it: what it was sent is kept in `sent`. */
export class FakeLink implements RunnerLink {
  readonly units = new Set<number>();
  readonly sent: ServerMessage[] = [];
  constructor(readonly runnerId: number, readonly name: string, readonly slots: number, readonly labels?: Record<string, string>) {}
  send(message: ServerMessage): void { this.sent.push(message); }
  assigned(): number[] { return this.sent.flatMap((m) => (m.type === 'assign' ? [m.unit] : [])); }
}

export interface Pipeline {
  cfg: Config; store: Store; events: Events; tree: Tree; lifecycle: BuildLifecycle; registry: RunnerRegistry;
  queue: WorkQueue; splitter: Splitter; intake: Intake; repoId: number;
  /** Every part server/pipeline.ts built (culprit finding, notifications, deploys, …). */
  parts: ServerPipeline;
  /** Registers a runner row (units.runner_id refers to it) and a link for it; not joined yet. */
  runner(name: string, slots?: number, labels?: Record<string, string>): FakeLink;
  /** A build of the repository's first builder with units of these files, created as intake does; its id. */
  build(files: string[][], fields?: { sha?: string; branch?: string; kind?: 'branch' | 'try'; changeId?: number | null; builder?: string;
    expectedMs?: number[] }): number;
  close(): void;
}

export function pipeline(cfg: Config = config()): Pipeline {
  const log = pino({ level: 'silent' });
  const store = openStore(':memory:', { log });
  const repoId = store.repos.sync(cfg.repositories).get(cfg.repositories[0].name)!.id;
  const parts = createPipeline({ store, config: cfg, log, baseUrl: () => cfg.baseUrl ?? '' });
  const { events, tree, lifecycle, runners: registry, queue, splitter, intake } = parts;
  let changes = 0;
  return {
    cfg, store, events, tree, lifecycle, registry, queue, splitter, intake, repoId, parts,
    runner(name, slots = 1, labels) {
      const id = store.runners.register({ name, slots, version: 'test', address: null, at: Date.now(), labels });
      return new FakeLink(id, name, slots, labels);
    },
    build(files, fields = {}) {
      const branch = fields.branch ?? 'main';
      const kind = fields.kind ?? 'branch';
      const changeId = fields.changeId !== undefined ? fields.changeId
        : store.repos.recordChange({ repoId, ref: `refs/heads/${branch}`, branch, kind, oldSha: null, newSha: fields.sha ?? SHA_A,
          source: 'api', pusher: null, at: Date.now() + ++changes });
      const now = Date.now();
      const id = store.tx(() => lifecycle.create({ repoId, builder: fields.builder ?? cfg.repositories[0].builders[0].name,
        ref: kind === 'try' ? `refs/try/${branch}` : `refs/heads/${branch}`, branch, kind, sha: fields.sha ?? SHA_A, baseSha: null,
        changeId, pushedAt: now, at: now, blamelist: [] }, files.map((f, i) => ({ files: f, expectedMs: fields.expectedMs?.[i] ?? 1000 }))));
      lifecycle.announce(id);
      return id;
    },
    close() { queue.stop(); parts.deploys.close(); store.close(); },
  };
}

/** What a runner reports when a unit ends. */
export function finished(unit: number, fields: Partial<FinishedMessage> = {}): FinishedMessage {
  return { type: 'finished', unit, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 0, durationMs: 100,
    tests: [], testsError: null, setupMs: null, cacheHit: null, ...fields };
}

export function testCase(name: string, status: TestCase['status'], file: string | null = null): TestCase {
  return { name, classname: 'suite', file, durationMs: 5, status, message: status === 'passed' ? null : 'boom' };
}
