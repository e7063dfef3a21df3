import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome } from '../helpers.js';

describe('artifacts end to end (real server and runner)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess;

  after(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  it('stores what a unit made before its end is recorded, skips links out of the workspace, and fails a unit over a size limit', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, stringify({
      port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      artifactLimits: { maxFileBytes: 1048576 },
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [
        { name: 'build', run: 'mkdir -p dist && echo built > dist/app.js && ln -s /etc/passwd dist/passwd', artifacts: ['dist/**'] },
        { name: 'big', run: 'mkdir -p out && head -c 2097152 /dev/zero > out/huge.bin', artifacts: ['out/*.bin'] },
      ] }],
    }));
    server = await new ServerProcess(file).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 2 });
    repo.commit({ 'README': 'x\n' }, 'first');
    expect(repo.push().ok).to.equal(true);
    const builds = await pollUntil(async () => { const b = await server.builds(); return b.length === 2 ? b : null; }, 'two builds');
    const byName = new Map(builds.map((b) => [b.builder, b.id as number]));

    const build = await server.waitForBuild(byName.get('build')!);
    expect(build.result).to.equal('passed');
    const listed = await server.api<any[]>(`/api/builds/${build.id}/artifacts`);
    expect(listed.map((a) => [a.step, a.path, a.size])).to.deep.equal([['build', 'dist/app.js', 6]]);
    expect(await (await fetch(listed[0].url.replace(/^http:\/\/localhost/, 'http://127.0.0.1'))).text()).to.equal('built\n');
    const log = await server.api<string>(`/api/builds/${build.id}/log`);
    expect(log).to.contain('artifact dist/passwd not uploaded: it is a symbolic link to a file outside the workspace');

    const big = await server.waitForBuild(byName.get('big')!);
    expect(big.result).to.equal('failed');
    expect(big.units[0].error).to.contain('out/huge.bin').and.contain('2097152 bytes').and.contain('artifactLimits.maxFileBytes');
    expect(await server.api<any[]>(`/api/builds/${big.id}/artifacts`)).to.deep.equal([]);
  });
});
