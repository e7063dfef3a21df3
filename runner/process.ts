/**
 * Runs a builder's shell command as `sh -c <command> sh <files…>` in its own process group, so
 * the files reach the command as "$@" and never pass through string interpolation. Output is
 * streamed as it comes. Stopping (cancel, timeout) sends SIGTERM to the whole group and SIGKILL
 * after KILL_GRACE_MS. A failing command is data (exit code, signal), not an exception.
 * The command gets exactly `env` (runner/environment.ts builds it), never the runner's own.
 * With `wrap` (the sandbox), the group's leader is bwrap; ending it ends the unit's PID namespace.
 */
import { execa } from 'execa';

export const KILL_GRACE_MS = 5_000; // 5 seconds between SIGTERM and SIGKILL

export interface RunOptions {
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** Seconds without any output before the command is stopped as timed out. */
  timeoutSeconds: number;
  onOutput(stream: 'out' | 'err', data: Buffer): void;
  /** Turns the `sh -c` argv into the one to spawn (the unit's sandbox, runner/sandbox.ts); absent: as is. */
  wrap?: (argv: string[]) => string[];
}

export interface RunOutcome { exitCode: number | null; signal: string | null; timedOut: boolean; cancelled: boolean; durationMs: number }

export class RunningCommand {
  private timer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private timedOut = false;
  private cancelled = false;
  private readonly child;
  readonly done: Promise<RunOutcome>;

  constructor(private readonly opts: RunOptions) {
    const started = performance.now();
    const [file, ...args] = (opts.wrap ?? ((a) => a))(['sh', '-c', opts.command, 'sh', ...opts.args]);
    this.child = execa(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      extendEnv: false, // only the allowlisted environment: the runner's tokens stay out
      detached: true, // its own process group, so the whole tree can be stopped
      stdin: 'ignore',
      buffer: false,
      reject: false,
      stripFinalNewline: false,
    });
    this.child.stdout?.on('data', (d: Buffer) => { this.progress(); opts.onOutput('out', d); });
    this.child.stderr?.on('data', (d: Buffer) => { this.progress(); opts.onOutput('err', d); });
    this.progress();
    this.done = this.child.then((r) => {
      this.clearTimers();
      return {
        exitCode: typeof r.exitCode === 'number' ? r.exitCode : null,
        signal: r.signal ?? null,
        timedOut: this.timedOut,
        cancelled: this.cancelled,
        durationMs: Math.round(performance.now() - started),
      };
    });
  }

  cancel(): void {
    this.cancelled = true;
    this.stop();
  }

  private progress(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timedOut = true; this.stop(); }, this.opts.timeoutSeconds * 1000);
  }

  private stop(): void {
    this.signal('SIGTERM');
    this.killTimer ??= setTimeout(() => this.signal('SIGKILL'), KILL_GRACE_MS);
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (!pid) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone already
    }
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    // The group may outlive its leader (a background child): finish it off after the grace period.
    if (this.killTimer) this.killTimer.unref();
  }
}
