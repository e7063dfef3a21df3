import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  RUNNER_TOKEN, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';
import { CloseCode, PROTOCOL_VERSION, WS_PATH } from '../../server/protocol.js';

describe('runner identity (real server and runners)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  const runners: ChildProcess[] = [];

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => stopChild(r)));
    await server?.kill();
    home?.cleanup();
  });

  it('refuses a client with the runner token under a live runner\'s name; the real runner\'s build still passes', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    // A latch, not a sleep: the unit runs until the test has made its attacks (at most 60 s).
    const latch = join(home.dir, 'latch');
    mkdirSync(latch);
    const release = join(latch, 'release');
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare,
      builders: [{ name: 'unit', timeout: 60, sandbox: { writable: [latch] },
        run: `echo working; i=0; while [ ! -f '${release}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo finished` }] }])).start();
    const real = startRunner(server.url, 'r1', home.dir);
    runners.push(real);
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'r1 to connect');
    const instanceFile = join(home.dir, 'runners', 'r1', 'instance-id');
    expect(readFileSync(instanceFile, 'utf8').trim()).to.match(/^[0-9a-f]{32}$/);
    expect(statSync(instanceFile).mode & 0o777).to.equal(0o600);

    repo.commit({ 'a.txt': 'a' }, 'a push');
    expect(repo.push().ok).to.equal(true);
    const build = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'the build');
    await pollUntil(async () => (await server.build(build.id)).units.some((u: any) => u.state === 'running'), 'the unit to run on r1');

    // The attacker: the runner token, the real runner's name, another instance id (or none).
    for (const instance of ['f'.repeat(32), undefined]) {
      const ws = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name: 'r1', slots: 4, version: 'evil',
        instance, units: [{ unit: build.id, finished: false }] }));
      const c = await closed;
      expect(c.code).to.equal(CloseCode.nameInUse);
      expect(c.reason).to.contain('"r1" is in use by another runner');
    }

    // A second real runner process under the same name (its own work directory) exits with a clear error.
    const twin = startRunner(server.url, 'r1', home.dir, { work: join(home.dir, 'runners', 'r1-twin') });
    runners.push(twin);
    const code = await new Promise<number | null>((resolve) => twin.once('exit', (c) => resolve(c)));
    expect(code).to.equal(3);
    expect(twin.output).to.contain('server refused this runner (4007)');
    expect(twin.output).to.contain('give this one its own --name');

    expect((await server.build(build.id)).units[0].state, 'the unit ran through the attacks').to.equal('running');
    writeFileSync(release, 'go');
    const done = await server.waitForBuild(build.id, 60_000);
    expect(done.result).to.equal('passed');
    expect(done.units).to.have.length(1);
    expect(done.units[0].runner).to.equal('r1');
    expect(await server.api(`/api/builds/${build.id}/log`)).to.contain('finished');
    expect(real.exitCode).to.equal(null);
  });
});
