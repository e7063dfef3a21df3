/**
 * greengate's node:test reporter: JUnit XML in which every test case carries its file.
 *
 *   node --test --test-reporter=spec --test-reporter-destination=stdout \
 *     --test-reporter="$GREENGATE_NODE_TEST_REPORTER" --test-reporter-destination=junit.xml "$@"
 *
 * The runner sets GREENGATE_NODE_TEST_REPORTER to this module's compiled path. Node 20's own
 * `junit` reporter writes no file (Node 22 only in late releases), so same-named tests in
 * different files would share one history; this one takes the file from each event.
 *
 * Contract: the default export is a node:test reporter (an async generator over the test
 * events, Node 20 and newer). It writes one <testsuites> with flat <testcase> elements:
 * `name`, `classname` (the enclosing describe/test names joined by " > ", as greengate reads
 * Node's nested suites), `file` (relative to the working directory when inside it), `time` in
 * seconds, and <failure>/<skipped> children. A test with subtests is a group, not a test case,
 * unless it failed by itself (not only because a subtest failed): then it is a failing test case
 * too, so no failure is lost. Files appear in the order their first result came; everything is
 * written when the run ends. It never throws on odd events: missing fields become defaults.
 *
 * A file's wall time: `node --test` runs each file in its own process and ends it with a
 * file-level `test:complete` event (its name is the file) whose duration covers the process's
 * start, module loading and tests. When that event came, the file's test cases are wrapped in a
 * `<testsuite file=… time=…>` with no name (so no test's classname changes), which the runner
 * reads as the file's wall time (runner/junitTimes.ts): what the planner balances slots with.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

/** Absolute path of the compiled reporter, for GREENGATE_NODE_TEST_REPORTER. */
export const NODE_TEST_REPORTER_PATH = fileURLToPath(import.meta.url);
export const MAX_BODY_CHARS = 64 * 1024; // a failure's body, as greengate stores it

interface TestEvent { type: string; data?: Record<string, unknown> }
interface Finished {
  name: string;
  nesting: number;
  status: 'passed' | 'failed' | 'skipped';
  skipType: 'skipped' | 'todo';
  skipMessage: string;
  durationMs: number;
  error: unknown;
  failureType: string;
  children: Finished[];
}

export default async function* nodeTestReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const byFile = new Map<string, Finished[]>();
  const fileMs = new Map<string, number>();
  for await (const event of source) {
    const data = event.data ?? {};
    const file = typeof data.file === 'string' ? data.file : '';
    if (event.type === 'test:complete' && file && data.name === file) {
      const ms = ((data.details ?? {}) as Record<string, unknown>).duration_ms;
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) fileMs.set(file, ms);
      continue;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const done = readFinished(event.type, data);
    const siblings = byFile.get(file) ?? [];
    byFile.set(file, siblings);
    // Subtests report before their parent: the trailing deeper results are this one's children.
    let first = siblings.length;
    while (first > 0 && siblings[first - 1]!.nesting > done.nesting) first--;
    done.children = siblings.splice(first);
    siblings.push(done);
  }
  yield '<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n';
  for (const [file, roots] of byFile) {
    const shown = displayFile(file);
    const ms = fileMs.get(file);
    if (ms !== undefined && shown) yield `<testsuite file="${escapeAttr(shown)}" time="${(ms / 1000).toFixed(6)}">\n`;
    for (const root of roots) yield* writeTests(root, [], shown);
    if (ms !== undefined && shown) yield '</testsuite>\n';
  }
  yield '</testsuites>\n';
}

function readFinished(type: string, data: Record<string, unknown>): Finished {
  const details = (data.details ?? {}) as Record<string, unknown>;
  const error = details.error;
  const skip = data.skip;
  const todo = data.todo;
  const skipped = (skip !== undefined && skip !== false) || (todo !== undefined && todo !== false);
  const failed = type === 'test:fail';
  return {
    name: typeof data.name === 'string' ? data.name : '(unnamed test)',
    nesting: typeof data.nesting === 'number' ? data.nesting : 0,
    status: failed ? 'failed' : skipped ? 'skipped' : 'passed',
    skipType: todo !== undefined && todo !== false ? 'todo' : 'skipped',
    skipMessage: typeof skip === 'string' ? skip : typeof todo === 'string' ? todo : '',
    durationMs: typeof details.duration_ms === 'number' ? details.duration_ms : 0,
    error,
    failureType: typeof (error as { failureType?: unknown })?.failureType === 'string'
      ? (error as { failureType: string }).failureType : '',
    children: [],
  };
}

function* writeTests(test: Finished, suites: string[], file: string): Generator<string> {
  if (test.children.length > 0) {
    for (const child of test.children) yield* writeTests(child, [...suites, test.name], file);
    const failedByItself = test.status === 'failed' && test.failureType !== 'subtestsFailed';
    if (!failedByItself) return;
  }
  const attrs = `name="${escapeAttr(test.name)}" classname="${escapeAttr(suites.join(' > '))}"` +
    `${file ? ` file="${escapeAttr(file)}"` : ''} time="${(test.durationMs / 1000).toFixed(6)}"`;
  if (test.status === 'passed') {
    yield `\t<testcase ${attrs}/>\n`;
  } else if (test.status === 'skipped') {
    yield `\t<testcase ${attrs}>\n\t\t<skipped type="${test.skipType}" message="${escapeAttr(test.skipMessage)}"/>\n\t</testcase>\n`;
  } else {
    const { message, body } = describeError(test.error);
    yield `\t<testcase ${attrs}>\n\t\t<failure type="${escapeAttr(test.failureType)}" message="${escapeAttr(message)}">` +
      `${escapeText(body)}</failure>\n\t</testcase>\n`;
  }
}

/** node:test wraps the thrown value as the `cause` of an ERR_TEST_FAILURE; report the thrown value. */
function describeError(error: unknown): { message: string; body: string } {
  const wrapper = error as { cause?: unknown; message?: unknown } | undefined;
  const thrown = wrapper && typeof wrapper === 'object' && 'cause' in wrapper && wrapper.cause !== undefined
    ? wrapper.cause : error;
  const message = thrown instanceof Error || (thrown && typeof thrown === 'object' && 'message' in thrown)
    ? String((thrown as { message: unknown }).message)
    : String(thrown ?? 'failed');
  const body = inspect(thrown, { colors: false, breakLength: Infinity, depth: 4 });
  return { message: message.trim(), body: body.length > MAX_BODY_CHARS ? `${body.slice(0, MAX_BODY_CHARS - 1)}…` : body };
}

function displayFile(file: string): string {
  if (!file) return '';
  const absolute = file.startsWith('file://') ? fileURLToPath(file) : file;
  const relative = path.relative(process.cwd(), absolute);
  const inside = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
  return (inside ? relative : absolute).split(path.sep).join('/');
}

// Characters XML 1.0 forbids are dropped; the rest is escaped.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const ANSI_ESCAPES = /\u001b\[[0-9;?]*[A-Za-z]/g;

function escapeText(text: string): string {
  return text.replace(ANSI_ESCAPES, '').replace(INVALID_XML_CHARS, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(text: string): string {
  return escapeText(text).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}
