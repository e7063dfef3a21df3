/** What counts as a failing test, and how a test is named across attempts and builds: one home for both. */

import { FAILING_STATUSES } from '../store/tests.js';

/** Statuses of a test result that fail its unit (quarantined and flaky failures do not); kept with the statuses (store/tests.ts). */
export { FAILING_SQL, FAILING_STATUSES } from '../store/tests.js';

export function isFailure(t: { status: string }): boolean {
  return (FAILING_STATUSES as readonly string[]).includes(t.status);
}

/** A test's key: "classname name", or its name alone when it has no classname. */
export function testKey(t: { classname: string; name: string }): string {
  return t.classname ? `${t.classname} ${t.name}` : t.name;
}
