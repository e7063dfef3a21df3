/**
 * Comparing a presented credential with the expected one in constant time: a leaf every edge
 * that checks a token uses (runner gateway, code URL, admin bearer and session, Alertmanager).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether `given` equals `expected`, taking the same time whatever they hold (both hashed first, so lengths do not show). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
