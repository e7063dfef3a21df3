/**
 * A process that belongs to its parent: `npm start` (npm runs it under `sh -c exec …`) and the
 * demo's runners. When the parent goes away without taking us down (SIGKILL to npm, a crashed
 * demo), we notice within PARENT_CHECK_MS and stop as if told to. Linux reads the current parent
 * from /proc/self/stat (process.ppid is fixed at start-up); elsewhere the first parent is probed
 * with signal 0. The timer is unref'd: it never keeps a process alive. onSignals: the clean stop on
 * SIGINT/SIGTERM every long-running command uses.
 */
import { readFileSync } from 'node:fs';

export const PARENT_CHECK_MS = 1_000; // 1 second

function currentParent(): number | null {
  try {
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Calls onGone once when the parent that started this process has exited; returns a stop function. */
export function watchParent(onGone: () => void): () => void {
  const first = process.ppid;
  const timer = setInterval(() => {
    const now = currentParent();
    if (now === null ? !alive(first) : now !== first) {
      clearInterval(timer);
      onGone();
    }
  }, PARENT_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Stops on SIGINT or SIGTERM (a second signal exits at once); returns the same stop for other triggers. */
export function onSignals(stop: () => Promise<void>): () => void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return handler;
}
