import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { installHooks } from '../../server/gate/hookInstall.js';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, git, ServerProcess, connectRunner, pollUntil, stopChild, tempHome } from '../helpers.js';

/** greengate.yml for one repository "shop" (gated on main) whose builders come from its .greengate.yml. */
function writePipelineConfig(home: string, bare: string, extra: Record<string, unknown> = {}): string {
  const file = join(home, 'greengate.yml');
  writeFileSync(file, stringify({ port: 0, data: join(home, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
    repositories: [{ name: 'shop', path: bare, gate: ['main'], pipeline: '.greengate.yml', ...extra }] }));
  return file;
}

describe('a pipeline file in the repository (real server, runner, git push)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess | undefined;
  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  async function buildsOf(sha: string, n: number): Promise<any[]> {
    return pollUntil(async () => { const b = (await server.builds('repo=shop')).filter((x) => x.sha === sha); return b.length >= n ? b : null; },
      `${n} build(s) of ${sha.slice(0, 7)}`);
  }

  it("runs the file's builders at the pushed commit; a push that changes the command runs the new command", async () => {
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writePipelineConfig(home.dir, repo.bare)).start();
    runner = await connectRunner(server, 'r1', home.dir);
    const first = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: echo from-the-pipeline-file-one\n  - name: lint\n    run: "true"\n' }, 'pipeline');
    expect(repo.push().ok).to.equal(true);
    const builds = await buildsOf(first, 2);
    expect(builds.map((b) => b.builder).sort()).to.deep.equal(['lint', 'unit']);
    const unit = await server.waitForBuild(builds.find((b) => b.builder === 'unit').id);
    expect(unit.result).to.equal('passed');
    expect(unit.error).to.equal(null);
    expect(await server.api(`/api/builds/${unit.id}/log`)).to.contain('from-the-pipeline-file-one');
    await server.waitForBuild(builds.find((b) => b.builder === 'lint').id);

    const second = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: echo from-the-pipeline-file-two\n' }, 'new command');
    expect(repo.push().ok).to.equal(true);
    const [next] = await buildsOf(second, 1);
    const done = await server.waitForBuild(next.id);
    expect(done.result).to.equal('passed');
    const log: string = await server.api(`/api/builds/${next.id}/log`);
    expect(log).to.contain('from-the-pipeline-file-two');
    expect(log).not.to.contain('from-the-pipeline-file-one');
  });

  it('an invalid file on a side branch: the push lands, its build ends as an error naming .greengate.yml:LINE, in the API and on the page', async () => {
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writePipelineConfig(home.dir, repo.bare)).start();
    repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: "true"\n' }, 'pipeline');
    expect(repo.push().ok).to.equal(true);
    const bad = repo.commit({ '.greengate.yml': '# our CI\nbuilders:\n  - name: unit\n    run: "true"\n    timout: 5\n' }, 'typo');
    const pushed = repo.push('HEAD:refs/heads/feature');
    expect(pushed.ok, pushed.output).to.equal(true);
    const [build] = await buildsOf(bad, 1);
    const done = await server.waitForBuild(build.id);
    expect(done.result).to.equal('exception');
    expect(done.error).to.equal('.greengate.yml:5:5: builders[0].timout: unknown key "timout" — did you mean "timeout"?');
    const page = await (await fetch(`${server.url}/builds/${build.id}`)).text();
    expect(page).to.contain('.greengate.yml:5:5: builders[0].timout: unknown key &quot;timout&quot; — did you mean &quot;timeout&quot;?');

    git(repo.work, 'rm', '-q', '.greengate.yml');
    const without = repo.commit({}, 'pipeline removed');
    expect(repo.push('HEAD:refs/heads/feature').ok).to.equal(true);
    const [none] = await buildsOf(without, 1);
    expect((await server.waitForBuild(none.id)).error)
      .to.equal(`pipeline: .greengate.yml is not in commit ${without.slice(0, 7)} — add it, or remove \`pipeline:\` from this repository in greengate.yml`);
  });

  it('an invalid or missing file on the gated branch: the pre-receive hook refuses the push with the same message', async () => {
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writePipelineConfig(home.dir, repo.bare)).start();
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    const good = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: "true"\n' }, 'pipeline');
    expect(repo.push().ok).to.equal(true);
    repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: "true"\n    sandbox: { writable: [/etc] }\n' }, 'widen the sandbox');
    const refused = repo.push();
    expect(refused.ok).to.equal(false);
    expect(refused.output).to.contain('main: push refused: the pipeline file at');
    expect(refused.output).to.contain('.greengate.yml:4:16: builders[0].sandbox.writable: /etc is not granted');
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(good);
    git(repo.work, 'rm', '-q', '.greengate.yml');
    const without = repo.commit({}, 'pipeline removed');
    const gone = repo.push();
    expect(gone.ok).to.equal(false);
    expect(gone.output).to.contain(`pipeline: .greengate.yml is not in commit ${without.slice(0, 7)}`);
    expect(git(repo.bare, 'rev-parse', 'refs/heads/main')).to.equal(good);
  });

  it("the tree rule reads the pipeline file's builders: a red one closes main, a green push opens it; the badge follows", async () => {
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writePipelineConfig(home.dir, repo.bare)).start();
    runner = await connectRunner(server, 'r1', home.dir);
    const red = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: "false"\n' }, 'red');
    expect(repo.push().ok).to.equal(true);
    const [build] = await buildsOf(red, 1);
    expect((await server.waitForBuild(build.id)).result).to.equal('failed');
    expect((await server.api('/api/tree/shop/main')).state).to.equal('closed');
    expect(await (await fetch(`${server.url}/badge/shop/main.svg`)).text()).to.contain(': failed"');
    const green = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: "true"\n' }, 'green');
    expect(repo.push().ok).to.equal(true);
    const [next] = await buildsOf(green, 1);
    expect((await server.waitForBuild(next.id)).result).to.equal('passed');
    await pollUntil(async () => (await server.api('/api/tree/shop/main')).state === 'open', 'the tree to open');
  });

  it("a pipeline file gets only granted secrets, and cannot expand the server's environment with ${VAR}", async () => {
    const SECRET = 'pipeline-granted-secret-98765';
    const SERVER_ONLY = 'server-only-value-24680';
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = new ServerProcess(writePipelineConfig(home.dir, repo.bare, { pipelineGrants: { unit: { secrets: { TOKEN: { env: 'GG_TEST_PIPE_SECRET' } } } } }));
    server.env = { GG_TEST_PIPE_SECRET: SECRET, GG_TEST_SERVER_ONLY: SERVER_ONLY };
    await server.start();
    runner = await connectRunner(server, 'r1', home.dir);
    const sha = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    secrets: { TOKEN: { env: GG_TEST_PIPE_SECRET } }\n' +
      '    run: \'echo "token length ${#TOKEN}"; echo "whole: $TOKEN"; echo "server: [${GG_TEST_SERVER_ONLY}] [${GG_TEST_PIPE_SECRET}]"\'\n' }, 'uses a secret');
    expect(repo.push().ok).to.equal(true);
    const [build] = await buildsOf(sha, 1);
    expect((await server.waitForBuild(build.id)).result).to.equal('passed');
    const log: string = await server.api(`/api/builds/${build.id}/log`);
    expect(log).to.contain(`token length ${SECRET.length}`);
    expect(log).to.contain('server: [] []');
    expect(log).not.to.contain(SECRET);
    expect(log).not.to.contain(SERVER_ONLY);

    const stolen = repo.commit({ '.greengate.yml': 'builders:\n  - name: lint\n    secrets: { TOKEN: { env: GG_TEST_PIPE_SECRET } }\n    run: echo "$TOKEN"\n' }, 'another builder asks for it');
    expect(repo.push('HEAD:refs/heads/side').ok).to.equal(true);
    const [refused] = await buildsOf(stolen, 1);
    const done = await server.waitForBuild(refused.id);
    expect(done.result).to.equal('exception');
    expect(done.error).to.match(/^\.greengate\.yml:3:\d+: builders\[0\]\.secrets\.TOKEN: secret TOKEN is not granted: greengate\.yml grants builder "lint" nothing/);
  });

  it("a build queued before a restart runs its own commit's builder after it, even when the branch moved on", async () => {
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writePipelineConfig(home.dir, repo.bare)).start();
    const first = repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: echo queued-before-restart\n' }, 'one');
    expect(repo.push('HEAD:refs/heads/one').ok).to.equal(true);
    const [queued] = await buildsOf(first, 1);
    repo.commit({ '.greengate.yml': 'builders:\n  - name: unit\n    run: echo newer-commit\n' }, 'two');
    expect(repo.push('HEAD:refs/heads/two').ok).to.equal(true);
    await server.kill();
    await server.start();
    runner = await connectRunner(server, 'r1', home.dir);
    expect((await server.waitForBuild(queued.id)).result).to.equal('passed');
    const log: string = await server.api(`/api/builds/${queued.id}/log`);
    expect(log).to.contain('queued-before-restart');
    expect(log).not.to.contain('newer-commit');
  });

  it('GET /api/builds/:id of a failed pipeline needs no more credentials than any build (anyone may read builds)', async () => {
    home = tempHome('gg-pipefile-');
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writePipelineConfig(home.dir, repo.bare)).start();
    const sha = repo.commit({ '.greengate.yml': 'builders: 3\n' }, 'bad');
    expect(repo.push('HEAD:refs/heads/side').ok).to.equal(true);
    const [build] = await buildsOf(sha, 1);
    const res = await fetch(`${server.url}/api/builds/${build.id}`);
    expect(res.status).to.equal(200);
    expect((await res.json()).error).to.match(/^\.greengate\.yml:1:\d+: builders: expected a list/);
  });
});
