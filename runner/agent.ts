/**
 * The runner agent: takes units from the server, runs each in a slot's workspace, streams its
 * log and reports its end. A unit's log chunks and its `finished` report are kept until the
 * server acks them and are sent again after a reconnect, so nothing is lost while the server
 * restarts; a unit the server says we no longer hold is stopped and forgotten. A `retry` from
 * the server (it could not store them) sends them again after the delay it asks for, and a
 * unit whose `finished` was acked is kept until every one of its log chunks is acked too.
 *
 * Each command of a unit (setup, run) runs in its own sandbox (sandbox.ts); the unit's code is
 * fetched with the unit's own credential (assign.unitToken), never given the runner token.
 */
import { hostname, availableParallelism } from 'node:os';
import { realpath, rm } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { glob } from 'tinyglobby';
import { fail, type AssignMessage, type FinishedMessage, type ServerMessage, type TestCase, type FileTime } from '../server/protocol.js';
import { Connection } from './connection.js';
import { LogStreamer } from './logStreamer.js';
import { RunningCommand, type RunOutcome } from './process.js';
import { Workspaces, safeName } from './workspace.js';
import { packageCacheDir, packageCacheEnv } from './packageCache.js';
import { Mirrors } from './mirror.js';
import { readJUnitFiles } from './junit.js';
import { buildUnitEnv, redactedValues } from './environment.js';
import { loadInstanceId } from './instance.js';
import { DEFAULT_POLICY, chooseSandbox, findBwrap, type Sandbox, type SandboxPolicy } from './sandbox.js';
import { mkdirSync } from 'node:fs';
import { downloadArtifacts, uploadArtifacts } from './artifacts.js';

export const RUNNER_VERSION = '0.1.0';

export interface AgentOptions {
  server: string; token: string; name?: string; slots: number; workDir: string; labels?: Record<string, string>;
  /** Where units run (runner/sandbox.ts); absent: chosen as --sandbox auto would. */
  sandbox?: Sandbox;
  /** Files the units must not see (the token file). */
  hide?: string[];
}

interface ActiveUnit {
  assign: AssignMessage;
  slot: number;
  streamer: LogStreamer;
  command: RunningCommand | null;
  finished: FinishedMessage | null;
  finishedAcked: boolean;
  dropped: boolean;
  resend: { timer: NodeJS.Timeout; at: number } | null;
  packageCache?: string;
}

export class Agent {
  readonly name: string;
  readonly instance: string;
  private readonly units = new Map<number, ActiveUnit>();
  private readonly busySlots = new Set<number>();
  private readonly conn: Connection;
  private readonly workspaces: Workspaces;
  private readonly mirrors: Mirrors;
  private readonly sandbox: Sandbox;
  private stopped = false;
  onFatal: (reason: string) => void = () => undefined;

  constructor(private readonly opts: AgentOptions, private readonly log: (line: string) => void = (l) => process.stderr.write(l + '\n')) {
    this.name = opts.name ?? `${hostname()}-${process.pid}`;
    this.workspaces = new Workspaces(opts.workDir);
    this.sandbox = opts.sandbox ?? chooseSandbox('auto', { root: process.getuid?.() === 0, bwrap: findBwrap() }).sandbox;
    this.instance = loadInstanceId(opts.workDir);
    this.mirrors = new Mirrors(opts.workDir, opts.server, opts.token, (line) => this.log(`runner ${this.name}: ${line}`));
    this.conn = new Connection(opts.server, opts.token, {
      hello: () => ({
        name: this.name, slots: opts.slots, cpus: availableParallelism(), version: RUNNER_VERSION, instance: this.instance, labels: opts.labels ?? {},
        units: [...this.units.values()].map((u) => ({ unit: u.assign.unit, finished: u.finished !== null })),
      }),
      message: (m) => this.handle(m),
      connected: () => this.log(`runner ${this.name}: connected to ${opts.server} with ${opts.slots} slot(s)`),
      fatal: (reason) => { this.log(`runner ${this.name}: ${reason}`); this.onFatal(reason); },
      log: (line) => this.log(`runner ${this.name}: ${line}`),
    });
  }

  start(): void { this.conn.start(); }

  /** Stops every running unit's process group and closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.units.values()].filter((u) => u.command);
    for (const u of running) u.command!.cancel();
    await Promise.allSettled(running.map((u) => u.command!.done));
    await this.conn.close();
  }

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome':
        for (const id of msg.drop) this.drop(id, 'the server gave it to another runner');
        for (const u of this.units.values()) {
          u.streamer.resend();
          if (u.finished && !u.finishedAcked) this.conn.send(u.finished);
        }
        return;
      case 'assign':
        if (this.units.has(msg.unit) || this.stopped) return;
        void this.run(msg);
        return;
      case 'ack': {
        const u = this.units.get(msg.unit);
        u?.streamer.ack(msg.seq);
        if (u?.finishedAcked && u.streamer.allAcked) this.forget(msg.unit);
        return;
      }
      case 'ackFinished': {
        const u = this.units.get(msg.unit);
        if (!u) return;
        u.finishedAcked = true;
        if (u.streamer.allAcked) this.forget(msg.unit);
        return;
      }
      case 'retry':
        this.resendLater(msg.unit, msg.afterMs);
        return;
      case 'cancel':
        this.units.get(msg.unit)?.command?.cancel();
        return;
      case 'refuse':
        this.drop(msg.unit, msg.reason);
        return;
    }
  }

  private drop(id: number, why: string): void {
    const u = this.units.get(id);
    if (!u) return;
    this.log(`runner ${this.name}: dropping unit ${id}: ${why}`);
    u.dropped = true;
    u.command?.cancel();
    this.forget(id);
  }

  /** Sends the unit's unacked chunks and unacked `finished` again in afterMs (the earliest time asked for wins). */
  private resendLater(id: number, afterMs: number): void {
    const u = this.units.get(id);
    if (!u) return;
    const at = Date.now() + afterMs;
    if (u.resend && u.resend.at <= at) return;
    if (u.resend) clearTimeout(u.resend.timer);
    const timer = setTimeout(() => {
      u.resend = null;
      if (this.units.get(id) !== u) return;
      u.streamer.resend();
      if (u.finished && !u.finishedAcked) this.conn.send(u.finished);
    }, afterMs);
    u.resend = { timer, at };
  }

  private forget(id: number): void {
    const u = this.units.get(id);
    if (!u) return;
    if (u.resend) clearTimeout(u.resend.timer);
    u.streamer.stop();
    this.units.delete(id);
    if (u.finished === null) this.busySlots.delete(u.slot);
  }

  private takeSlot(): number {
    let slot = 0;
    while (this.busySlots.has(slot)) slot++;
    this.busySlots.add(slot);
    return slot;
  }

  private async run(a: AssignMessage): Promise<void> {
    const u: ActiveUnit = {
      assign: a, slot: this.takeSlot(), command: null, finished: null, finishedAcked: false, dropped: false, resend: null,
      streamer: new LogStreamer(a.unit, (chunk) => this.conn.send(chunk),
        { redact: [...redactedValues(a, this.opts.token), ...(a.unitToken ? [a.unitToken] : [])], maxBytes: a.builder.maxLogBytes }),
    };
    this.units.set(a.unit, u);
    const started = performance.now();
    let outcome: RunOutcome | null = null;
    let error: string | null = null;
    let tests: TestCase[] = [];
    let fileTimes: FileTime[] = [];
    let testsError: string | null = null;
    let setupMs: number | null = null;
    let cacheHit: boolean | null = null;
    let wsDir: string | null = null;
    let artifactsFailed = false;
    const transfer = { server: this.opts.server, unit: a.unit, token: a.unitToken ?? '', log: (line: string) => u.streamer.write('sys', `${line}\n`) };
    try {
      if (a.builder.secretsError) fail('GG_SECRET_UNAVAILABLE', a.builder.secretsError);
      const ws = await this.prepareWorkspace(a, u.slot);
      wsDir = ws.dir;
      // Files of the steps this unit needs, in place before setup (their sha256 checked).
      if (a.artifacts?.length) await downloadArtifacts(ws.dir, a.artifacts, transfer);
      u.packageCache = packageCacheDir(this.opts.workDir, safeName(a.repo.name));
      const env = buildUnitEnv(a, this.name, process.env, packageCacheEnv(u.packageCache));
      for (const dir of a.builder.sandbox?.writable ?? []) mkdirSync(dir, { recursive: true });
      const setupCommand = pickSetup(a, ws);
      if (ws.cache) {
        cacheHit = ws.cache.hit;
        u.streamer.write('sys', ws.cache.message);
        if (ws.cache.hit && !setupCommand) u.streamer.write('sys', '[greengate] setup skipped: every cache entry was kept (setupOnHit: runs a command on a hit)\n');
      }
      if (setupCommand) {
        u.streamer.write('sys', `$ ${setupCommand}\n`);
        const setup = await this.exec(u, setupCommand, [], ws.dir, env, a.builder.timeout);
        if (setup.exitCode !== 0 || u.dropped) {
          setupMs = Math.round(performance.now() - started);
          this.workspaces.reset(a.repo.name, u.slot);
          outcome = setup;
          error = setup.timedOut ? 'setup timed out' : `setup failed (exit ${setup.exitCode ?? setup.signal})`;
        }
      }
      if (!outcome) {
        this.workspaces.markSetupDone(a.repo.name, u.slot);
        if (a.builder.junit) await removeMatching(ws.dir, a.builder.junit);
        setupMs = Math.round(performance.now() - started);
        this.conn.send({ type: 'started', unit: a.unit, at: Date.now() });
        u.streamer.write('sys', `$ ${a.builder.run}${a.files.length ? ` # ${a.files.length} file(s)` : ''}\n`);
        outcome = await this.exec(u, a.builder.run, a.files, ws.dir, env, a.builder.timeout);
        if (a.builder.junit && !u.dropped) {
          const r = await readJUnitFiles(ws.dir, a.builder.junit, a.files);
          tests = r.tests;
          fileTimes = r.fileTimes;
          if (r.errors.length) testsError = r.errors.join('; ').slice(0, 4000);
          for (const e of r.errors) u.streamer.write('sys', `[greengate] JUnit: ${e}\n`);
        }
      }
    } catch (err) {
      error = (err as Error).message.slice(0, 4000);
      u.streamer.write('sys', `[greengate] ${error}\n`);
    }
    // Its artifacts are stored before its end is reported (the server takes them while the unit runs).
    if (wsDir && a.builder.artifacts?.length && !u.dropped && !this.stopped && !outcome?.cancelled) {
      const up = a.unitToken ? await uploadArtifacts(wsDir, a.builder.artifacts, transfer)
        : { error: 'artifacts not uploaded: the server sent no unit credential (upgrade the server)' };
      if (up.error) {
        artifactsFailed = true;
        error = error ? `${error}; ${up.error}` : up.error;
        u.streamer.write('sys', `[greengate] ${up.error}\n`);
      }
    }
    this.workspaces.endUnit(a.repo.name, u.slot);
    if (u.dropped) return;
    if (this.stopped) { this.busySlots.delete(u.slot); return; }
    u.streamer.end();
    // Every string the unit reported (test names, messages, files, errors) is redacted like its log.
    u.finished = u.streamer.redactor.redactReport({
      type: 'finished', unit: a.unit, exitCode: outcome?.exitCode ?? null, signal: outcome?.signal ?? null,
      timedOut: outcome?.timedOut ?? false, error: error ?? (outcome?.cancelled ? 'cancelled' : null),
      chunks: u.streamer.chunks, durationMs: outcome?.durationMs ?? Math.round(performance.now() - started), tests, testsError,
      setupMs, cacheHit, ...(fileTimes.length ? { fileTimes } : {}), ...(artifactsFailed ? { artifactsFailed } : {}),
    });
    // The slot is free as soon as the command ends; the report waits in memory for its ack.
    this.conn.send(u.finished);
    if (!a.builder.setup) this.workspaces.scrub(a.repo.name, u.slot);
    this.busySlots.delete(u.slot);
  }

  /** The slot's checkout, from the mirror; a commit the server's repository turned out not to have is fetched. */
  /** The slot's checkout of the unit's commit, from the repository's mirror (fetched when the commit is new). */
  private async prepareWorkspace(a: AssignMessage, slot: number) {
    const mirror = await this.mirrors.ensure(a.repo, a.sha, a.ref, a.unitToken);
    const setup = { setup: a.builder.setup, cache: a.builder.cache };
    try {
      return await this.workspaces.prepare({ name: a.repo.name, url: mirror }, slot, a.build, a.sha, setup);
    } catch (err) {
      if (!this.mirrors.unborrow(a.repo.name, a.sha)) throw err;
      await this.mirrors.ensure({ name: a.repo.name, url: a.repo.url }, a.sha, a.ref, a.unitToken);
      return this.workspaces.prepare({ name: a.repo.name, url: mirror }, slot, a.build, a.sha, setup);
    }
  }

  private exec(u: ActiveUnit, command: string, args: readonly string[], cwd: string, env: Record<string, string>, timeout: number) {
    const policy: SandboxPolicy = u.assign.builder.sandbox ?? DEFAULT_POLICY;
    const place = { workspace: cwd, workDir: this.opts.workDir, hide: this.opts.hide ?? [], packageCache: u.packageCache };
    u.command = new RunningCommand({
      command, args, cwd, env, timeoutSeconds: timeout,
      wrap: (argv) => this.sandbox.wrap(argv, place, policy),
      onOutput: (stream, data) => u.streamer.write(stream, data),
    });
    return u.command.done.finally(() => { u.command = null; });
  }
}

/** The command to run before the unit: setup on a new build in the slot, setupOnHit (or nothing) when its cache was kept. */
function pickSetup(a: AssignMessage, ws: { needsSetup: boolean; cache: { hit: boolean } | null }): string | null {
  if (!ws.needsSetup || !a.builder.setup) return null;
  return ws.cache?.hit ? a.builder.setupOnHit : a.builder.setup;
}

async function removeMatching(cwd: string, pattern: string): Promise<void> {
  // Never through a link the unit made (a folder linked to /etc): the runner removes what it matches.
  const root = await realpath(cwd);
  const files = await glob(pattern, { cwd, dot: false, onlyFiles: true, followSymbolicLinks: false });
  await Promise.all(files.map(async (f) => {
    const folder = await realpath(dirname(join(cwd, f))).catch(() => null);
    if (folder === null || (folder !== root && !folder.startsWith(root + sep))) return;
    await rm(join(folder, basename(f)), { force: true });
  }));
}
