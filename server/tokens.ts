/**
 * Comparing a presented credential with the expected one in constant time: a leaf every edge
 * that checks a token uses (runner gateway, code URL, admin bearer and session, Alertmanager).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether `given` equals `expected`, taking the same time whatever they hold (both hashed first, so lengths do not show). */
export function tokensEqual(given: string, expected: string): boolean {
  return digestsEqual(tokenDigest(given), tokenDigest(expected));
}

/** A token's digest: a hot path compares one given token with several expected ones hashing each once (digestsEqual). */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** tokensEqual on two tokenDigest()s: constant time. */
export function digestsEqual(given: Buffer, expected: Buffer): boolean {
  return timingSafeEqual(given, expected);
}
