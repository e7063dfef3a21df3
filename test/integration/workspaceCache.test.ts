import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';

/**
 * The workspace cache end to end: a real server, a real runner process and git. The setup is an
 * npm stand-in that takes SETUP_SECONDS and writes node_modules/x from the lockfile, so a
 * skipped setup shows in the unit's setup time and a rebuilt one in what the run reads.
 */
const SETUP_SECONDS = 3;
const FAKE_INSTALL = `sleep ${SETUP_SECONDS} && mkdir -p node_modules && cp package-lock.json node_modules/x && echo installed >> node_modules/installs`;
// The run proves the rest of the workspace was cleaned (leftover.tmp is gone) and prints what the "install" made.
const RUN = 'test ! -e leftover.tmp && touch leftover.tmp && echo "deps: $(cat node_modules/x) installs: $(wc -l < node_modules/installs)"';

describe('workspace cache (real server, runner, git)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess | undefined;

  async function start(builder: Partial<BuilderSpec> | ((home: string) => Partial<BuilderSpec>), slots = 1): Promise<void> {
    home = tempHome();
    repo = new Repo(home.dir);
    const spec = typeof builder === 'function' ? builder(home.dir) : builder;
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: RUN, timeout: 60, ...spec }] }]);
    server = await new ServerProcess(config).start();
    runner = startRunner(server.url, 'r1', home.dir, { slots });
    await pollUntil(async () => (await server.api('/healthz')).runners >= 1, 'the runner to connect');
  }

  /** Commits, pushes and waits for the build; returns it with its one unit and that unit's log. */
  async function build(files: Record<string, string>, message: string): Promise<{ b: any; unit: any; log: string }> {
    const before = (await server.builds('repo=shop'))[0]?.id ?? 0;
    repo.commit(files, message);
    expect(repo.push().ok).to.equal(true);
    const created = await pollUntil(async () => (await server.builds('repo=shop')).find((x) => x.id > before), 'the build to be created');
    const b = await server.waitForBuild(created.id, 60_000);
    expect(b.units).to.have.length(1);
    const log: string = await server.api(`/api/units/${b.units[0].id}/log`);
    expect(b.result, log).to.equal('passed');
    return { b, unit: b.units[0], log };
  }

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  it('keeps node_modules (the default, keyed by package-lock.json) while the lockfile is unchanged and rebuilds it when it changes', async () => {
    await start({ setup: FAKE_INSTALL });

    const cold = await build({ 'package-lock.json': 'lock-v1', 'src.txt': 'a' }, 'first');
    expect(cold.unit.cacheHit).to.equal(false);
    expect(cold.unit.setupMs).to.be.at.least(SETUP_SECONDS * 1000);
    expect(cold.log).to.contain('rebuilding node_modules (key: package-lock.json)');
    expect(cold.log).to.contain('deps: lock-v1 installs: 1');

    const warm = await build({ 'src.txt': 'b' }, 'a change that leaves the lockfile alone');
    expect(warm.unit.cacheHit).to.equal(true);
    // No timing window: the hit is proven by 'setup skipped' and one install; a setup that ran would take SETUP_SECONDS.
    expect(warm.unit.setupMs).to.be.below(SETUP_SECONDS * 1000);
    expect(warm.log).to.contain('kept node_modules (key: package-lock.json)');
    expect(warm.log).to.contain('setup skipped');
    expect(warm.log).to.contain('deps: lock-v1 installs: 1');

    const page = await server.api<string>(`/builds/${warm.b.id}`);
    expect(page).to.match(/<td class="cache"><span class="hit"[^>]*>hit<\/span><\/td>/);

    const changed = await build({ 'package-lock.json': 'lock-v2' }, 'a new dependency');
    expect(changed.unit.cacheHit).to.equal(false);
    expect(changed.unit.setupMs).to.be.at.least(SETUP_SECONDS * 1000);
    expect(changed.log).to.contain('deps: lock-v2 installs: 1'); // dropped, then installed afresh

    const coldPage = await server.api<string>(`/builds/${changed.b.id}`);
    expect(coldPage).to.match(/<td class="cache"><span class="miss"[^>]*>miss<\/span><\/td>/);
  });

  it('follows an explicit cache: entry, runs setupOnHit on a hit, and a new file matching its key glob is a miss', async () => {
    await start({
      setup: 'sleep 1 && mkdir -p deps && cat deps.lock > deps/content',
      cache: [{ paths: ['deps'], key: ['locks/*.lock', 'deps.lock'] }],
      setupOnHit: 'echo on-hit > hit.txt',
    });
    // the run checks deps/ is there and reports whether setupOnHit ran
    await build({ 'deps.lock': 'one', 'package-lock.json': 'not the key here' }, 'first');
    const warm = await build({ 'package-lock.json': 'changed, but not part of this key' }, 'second');
    expect(warm.unit.cacheHit).to.equal(true);
    expect(warm.log).to.contain('$ echo on-hit > hit.txt');
    expect(warm.log).to.contain('kept deps (key: deps.lock)');
    const nested = await build({ 'locks/extra.lock': 'x' }, 'a key file matched by the glob');
    expect(nested.unit.cacheHit).to.equal(false);
    expect(nested.log).to.contain('rebuilding deps (key: deps.lock, locks/extra.lock)');
  });

  it('keeps the repository\'s package-manager cache between setups: a miss installs from disk, not the registry', async () => {
    // An npm stand-in: "downloads" a package into $npm_config_cache unless it is there already.
    await start({
      setup: 'if test -f "$npm_config_cache/pkg.tgz"; then from=disk; else sleep 1; mkdir -p "$npm_config_cache" && echo pkg > "$npm_config_cache/pkg.tgz" && from=registry; fi; echo "package from: $from"; mkdir -p node_modules',
    });
    const first = await build({ 'package-lock.json': 'lock-v1' }, 'first');
    expect(first.log).to.contain('package from: registry');
    const changed = await build({ 'package-lock.json': 'lock-v2' }, 'a new lockfile: the workspace cache misses');
    expect(changed.unit.cacheHit).to.equal(false);
    expect(changed.log).to.contain('package from: disk').and.not.contain('package from: registry');
  });

  it('runs setup once for two slots of a runner: the other slot waits and copies node_modules (issue 24 item 1)', async () => {
    // The "install" counts its runs in a file outside every workspace (a writable sandbox path).
    await start((dir) => ({
      setup: `sleep ${SETUP_SECONDS} && echo installed >> '${join(dir, 'installs')}' && mkdir -p node_modules && cp package-lock.json node_modules/x`,
      run: 'echo "deps: $(cat node_modules/x)" "$@"', tests: 'test/*.js', sandbox: { writable: [dir] },
    }), 2);
    const before = (await server.builds('repo=shop'))[0]?.id ?? 0;
    repo.commit({ 'package-lock.json': 'lock-v1', 'test/a.js': 'a', 'test/b.js': 'b' }, 'two test files for two slots');
    expect(repo.push().ok).to.equal(true);
    const created = await pollUntil(async () => (await server.builds('repo=shop')).find((x) => x.id > before), 'the build to be created');
    const b = await server.waitForBuild(created.id, 60_000);
    expect(b.result).to.equal('passed');
    expect(b.units).to.have.length(2);
    const logs: string[] = await Promise.all(b.units.map((u: any) => server.api<string>(`/api/units/${u.id}/log`)));
    expect(readFileSync(join(home.dir, 'installs'), 'utf8')).to.equal('installed\n'); // one install for two slots
    for (const log of logs) expect(log).to.contain('deps: lock-v1');
    const copied = logs.filter((log) => /copied node_modules from slot \d/.test(log));
    expect(copied, logs.join('\n----\n')).to.have.length(1);
    expect(b.units.map((u: any) => u.cacheHit).sort()).to.deep.equal([false, true]);
  });
});
