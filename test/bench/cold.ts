/**
 * Benchmark of a builder's first (cold) build: `node dist/test/bench/cold.js`. Not a test: it
 * prints figures. A real `greengate serve`, one runner process with 2 slots, a real git push.
 *
 * The suite: COLD_FILES (190) node:test files, seeded; each holds 1–30 tests sleeping 10–60 ms
 * (more tests: a bigger file and a longer one), and one small file holds a single 4 s test (a
 * long file that its size does not give away). The builder runs `node --test` on its unit's files.
 *
 * Figures: units; wall = first unit handed out → last unit finish; push → finished; the serial sum of
 * the files' sleeps. Run it from two trees (before/after) in the same session to compare.
 */
import { pathToFileURL } from 'node:url';
import { Repo, ServerProcess, pollUntil, seededRandom, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';

const FILES = Number(process.env.COLD_FILES ?? 190);
const SLOTS = 2;
const RUN = 'node --test --test-reporter=junit --test-reporter-destination=junit.xml "$@"';

function makeSuite(seed: number): { files: Record<string, string>; sleepMs: number } {
  const random = seededRandom(seed);
  const files: Record<string, string> = {};
  let sleepMs = 0;
  for (let i = 0; i < FILES; i++) {
    const tests: string[] = [];
    const n = i === 97 ? 0 : 1 + Math.floor(random() * 30);
    for (let t = 0; t < n; t++) {
      const ms = 10 + Math.floor(random() * 50);
      sleepMs += ms;
      tests.push(`test('file ${i} test ${t}', async () => { await sleep(${ms}); assert.ok(true); });`);
    }
    if (i === 97) { tests.push(`test('the long one', async () => { await sleep(4000); });`); sleepMs += 4000; }
    files[`test/f${String(i).padStart(3, '0')}.test.js`] = `const { test } = require('node:test');\nconst assert = require('node:assert');\n` +
      `const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));\n${tests.join('\n')}\n`;
  }
  return { files, sleepMs };
}

async function main(): Promise<void> {
  const home = tempHome('gg-cold-');
  let server: ServerProcess | undefined;
  let runner: ReturnType<typeof startRunner> | undefined;
  try {
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare,
      builders: [{ name: 'unit', tests: 'test/*.test.js', run: RUN, junit: 'junit.xml', timeout: 120 }] }])).start();
    runner = startRunner(server.url, 'r1', home.dir, { slots: SLOTS });
    await pollUntil(async () => (await server!.api('/healthz')).runners >= 1, 'the runner to connect');
    const { files, sleepMs } = makeSuite(Number(process.env.COLD_SEED ?? 1));
    repo.commit(files, `${FILES} test files`);
    const pushed = Date.now();
    if (!repo.push().ok) throw new Error('push failed');
    const created = await pollUntil(async () => (await server!.builds('repo=shop'))[0], 'the build', 60_000);
    const b = await server.waitForBuild(created.id, 600_000);
    const starts = b.units.map((u: any) => u.assignedAt).filter((x: unknown) => typeof x === 'number');
    const ends = b.units.map((u: any) => u.finishedAt).filter((x: unknown) => typeof x === 'number');
    const long = b.units.findIndex((u: any) => u.files.includes('test/f097.test.js'));
    console.log(JSON.stringify({ result: b.result, units: b.units.length, tests: b.tests?.length, wallMs: Math.max(...ends) - Math.min(...starts),
      pushToFinishedMs: Math.max(...ends) - pushed, serialSleepMs: sleepMs, longFileUnit: `${long + 1} of ${b.units.length}`,
      filesPerUnit: b.units.map((u: any) => u.files.length) }));
  } finally {
    await stopChild(runner);
    await server?.kill();
    home.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main().catch((err) => { console.error(err); process.exit(1); });
