/** What counts as a failing test, and how a test is named across attempts and builds: one home for both. */

/** Statuses of a test result that fail its unit (quarantined and flaky failures do not). */
export const FAILING_STATUSES = ['failed', 'error'] as const;
/** The same list as an SQL list literal, for the store's queries: `('failed', 'error')`. */
export const FAILING_SQL = `(${FAILING_STATUSES.map((s) => `'${s}'`).join(', ')})`;

export function isFailure(t: { status: string }): boolean {
  return (FAILING_STATUSES as readonly string[]).includes(t.status);
}

/** A test's key: "classname name", or its name alone when it has no classname. */
export function testKey(t: { classname: string; name: string }): string {
  return t.classname ? `${t.classname} ${t.name}` : t.name;
}
