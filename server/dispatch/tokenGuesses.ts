/**
 * Guessing the runner token: each client address may send RUNNER_GUESSES wrong tokens in
 * RUNNER_GUESS_WINDOW_MS, counted together over the runner socket (hello) and the code URL
 * (git over HTTP); after that, every attempt from it is refused (close code 4029 /
 * HTTP 429, GG_RUNNER_TOKEN_GUESSES), the right token too, until its window ends. Right tokens
 * are not counted. The window is fixed, starts at an address's first wrong token, and runs on
 * a monotonic clock. At most MAX_GUESSING_ADDRESSES are remembered (the oldest window is
 * forgotten first), so a flood of addresses cannot grow memory.
 */
export const RUNNER_GUESSES = 10;
export const RUNNER_GUESS_WINDOW_MS = 15 * 60_000; // 15 minutes
export const MAX_GUESSING_ADDRESSES = 10_000;

interface Window { wrong: number; since: number }

export class TokenGuesses {
  private readonly byAddress = new Map<string, Window>();

  constructor(readonly limit = RUNNER_GUESSES, readonly windowMs = RUNNER_GUESS_WINDOW_MS,
    private readonly now: () => number = () => performance.now()) {}

  /** True when `address` has used up its wrong tokens for now: refuse it without looking at the token. */
  blocked(address: string): boolean {
    const w = this.current(address);
    return w !== undefined && w.wrong >= this.limit;
  }

  /** Counts one wrong token from `address`. */
  wrong(address: string): void {
    const key = keyOf(address);
    const w = this.current(address);
    if (w) {
      w.wrong += 1;
      return;
    }
    if (this.byAddress.size >= MAX_GUESSING_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value!);
    this.byAddress.set(key, { wrong: 1, since: this.now() });
  }

  /** Whole minutes (at least 1) until `address` may try again. */
  retryMinutes(address: string): number {
    const w = this.current(address);
    const ms = w ? w.since + this.windowMs - this.now() : 0;
    return Math.max(1, Math.ceil(ms / 60_000));
  }

  private current(address: string): Window | undefined {
    const key = keyOf(address);
    const w = this.byAddress.get(key);
    if (w && this.now() - w.since >= this.windowMs) {
      this.byAddress.delete(key);
      return undefined;
    }
    return w;
  }
}

/** An IPv4 address seen over IPv6 (::ffff:1.2.3.4) counts as itself. */
function keyOf(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
