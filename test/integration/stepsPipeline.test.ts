/**
 * Issue 23's "done when", end to end: a repository whose `.greengate.yml` holds
 * build (uploads dist/**) → test (sharded over two runners, each unit reads the artifact) →
 * package (uploads a .tgz); real server, two runner processes, real git pushes.
 */
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, git, ServerProcess, connectRunner, pollUntil, stopChild, tempHome } from '../helpers.js';

const PIPELINE = `builders:
  - name: ci
    steps:
      - name: build
        run: mkdir -p dist && cp src/app.js dist/app.js && echo built
        artifacts: ["dist/**"]
      - name: test
        tests: "test/*.test.js"
        unitTargetSeconds: 0.1
        run: node --test "$@"
      - name: package
        run: tar czf shop.tgz dist && echo packed
        artifacts: ["shop.tgz"]
`;
/** A test file that fails unless the build step's artifact is in its workspace. */
const readsArtifact = (name: string) => `const { test } = require('node:test');
const assert = require('node:assert');
test('${name} sees the built app', () => { assert.match(require('fs').readFileSync('dist/app.js', 'utf8'), /shop-app/); });
`;

describe('steps, artifacts and a pipeline file together (issue 23 end to end)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  const runners: ChildProcess[] = [];
  before(async () => {
    home = tempHome('gg-steps-pipeline-');
    repo = new Repo(home.dir);
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, stringify({ port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], pipeline: '.greengate.yml' }] }));
    server = await new ServerProcess(file).start();
    runners.push(await connectRunner(server, 'r1', home.dir, { slots: 1 }, 1));
    runners.push(await connectRunner(server, 'r2', home.dir, { slots: 1 }, 2));
  });
  after(async () => {
    for (const r of runners) await stopChild(r);
    await server.kill();
    home.cleanup();
  });

  async function buildOf(sha: string): Promise<any> {
    const b = await pollUntil(async () => (await server.builds('repo=shop')).find((x) => x.sha === sha), `the build of ${sha.slice(0, 7)}`);
    return server.waitForBuild(b.id);
  }

  it('is green with the steps in order; every test unit read the build\'s artifact; the .tgz downloads through its url', async () => {
    const sha = repo.commit({ '.greengate.yml': PIPELINE, 'src/app.js': "module.exports = 'shop-app';\n",
      'test/a.test.js': readsArtifact('a'), 'test/b.test.js': readsArtifact('b'), 'test/c.test.js': readsArtifact('c'),
      'test/d.test.js': readsArtifact('d') }, 'a pipeline with steps');
    expect(repo.push().ok).to.equal(true);
    const build = await buildOf(sha);
    expect(build.result, JSON.stringify(build.steps)).to.equal('passed');
    expect(build.steps.map((s: any) => [s.name, s.result])).to.deep.equal([['build', 'passed'], ['test', 'passed'], ['package', 'passed']]);
    expect(build.steps[1].startedAt).to.be.at.least(build.steps[0].finishedAt);
    expect(build.steps[2].startedAt).to.be.at.least(build.steps[1].finishedAt);
    const tests = build.units.filter((u: any) => u.step === 'test');
    expect(tests.length).to.be.at.least(2);
    expect(new Set(tests.map((u: any) => u.runner)).size, 'the test step ran on both runners').to.equal(2);
    expect(tests.flatMap((u: any) => u.files).sort()).to.deep.equal(['test/a.test.js', 'test/b.test.js', 'test/c.test.js', 'test/d.test.js']);

    const artifacts: any[] = await server.api(`/api/builds/${build.id}/artifacts`); // read without credentials, like the build
    expect(artifacts.map((a) => [a.step, a.path])).to.deep.equal([['build', 'dist/app.js'], ['package', 'shop.tgz']]);
    const tgz = artifacts.find((a) => a.path === 'shop.tgz');
    const res = await fetch(new URL(tgz.url, server.url));
    expect(res.status).to.equal(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).to.equal(tgz.size);
    expect(body.subarray(0, 2).toString('hex')).to.equal('1f8b'); // gzip
  });

  it('an invalid .greengate.yml on a side branch ends as an error naming .greengate.yml:LINE', async () => {
    const sha = repo.commit({ '.greengate.yml': PIPELINE.replace('      - name: package\n', '      - name: package\n        needs: [tset]\n') }, 'a typo in needs');
    const pushed = repo.push('HEAD:refs/heads/feature');
    expect(pushed.ok, pushed.output).to.equal(true);
    const build = await buildOf(sha);
    expect(build.result).to.equal('exception');
    expect(build.error).to.match(/^\.greengate\.yml:1\d:\d+: .*tset/);
  });

  it('a failing first step skips the rest, fails the build and closes the tree', async () => {
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD~1'); // back to main's head, without the side branch's typo
    const sha = repo.commit({ '.greengate.yml': PIPELINE.replace('cp src/app.js', 'cp src/missing.js') }, 'build from a file that is not there');
    expect(repo.push().ok).to.equal(true);
    const build = await buildOf(sha);
    expect(build.result).to.equal('failed');
    expect(build.steps.map((s: any) => `${s.name}:${s.result}`)).to.deep.equal(['build:failed', 'test:skipped', 'package:skipped']);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('closed');
  });
});
