import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADMIN_TOKEN, RUNNER_TOKEN, Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig,
} from '../helpers.js';
import { REDACTED } from '../../server/protocol.js';

/** The pushed "test": prints its whole environment, the runner's environment, and a secret in two halves. */
const PRINT_ENV = `#!/bin/sh
echo "--- env"
env | sort
echo "--- the runner's environment, read from /proc (the runner is the parent of sh -c's parent)"
runner=$(awk '{ print $4 }' /proc/$PPID/stat)
tr '\\0' '\\n' < /proc/$runner/environ 2>&1
echo "--- secrets"
echo "npm token length: \${#NPM_TOKEN}"
echo "deploy key length: \${#DEPLOY_KEY}"
printf 'whole: %s\\n' "$NPM_TOKEN"
half=$(( \${#NPM_TOKEN} / 2 ))
printf 'split: %s' "$(printf %s "$NPM_TOKEN" | cut -c1-$half)"
sleep 0.3
printf '%s\\n' "$(printf %s "$NPM_TOKEN" | cut -c$((half + 1))-)"
exit 0
`;

describe('secrets stay out of builds (real server, runner, a pushed test printing its environment)', function () {
  this.timeout(90_000);
  const NPM_TOKEN = 'npm-secret-value-4242';
  const DEPLOY_KEY = 'deploy-key-from-a-file-0123456789';
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess & { output: string };

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    delete process.env.GG_TEST_NPM_TOKEN;
    home?.cleanup();
  });

  it('gives a unit only the allowlist, its env: names and its own secrets; the public log holds no token or secret', async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    const keyFile = join(home.dir, 'deploy_key');
    writeFileSync(keyFile, DEPLOY_KEY + '\n', { mode: 0o600 });
    process.env.GG_TEST_NPM_TOKEN = NPM_TOKEN; // the server's environment (inherited by its process)
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [
      { name: 'deploy', run: 'sh ./print-env.sh', timeout: 60, env: ['RUNNER_VISIBLE'],
        secrets: { NPM_TOKEN: { env: 'GG_TEST_NPM_TOKEN' }, DEPLOY_KEY: { file: keyFile } } },
      { name: 'plain', run: 'sh ./print-env.sh', timeout: 60 },
    ] }]);
    server = await new ServerProcess(config).start();
    delete process.env.GG_TEST_NPM_TOKEN; // the server's, not the runner's
    // A runner on a host whose environment holds every token (as a careless setup would).
    runner = startRunner(server.url, 'r1', home.dir, { slots: 2, env: {
      GREENGATE_ADMIN_TOKEN: ADMIN_TOKEN, RUNNER_VISIBLE: 'shown-to-the-unit', RUNNER_HIDDEN: 'not-listed-anywhere',
    } });
    repo.commit({ 'print-env.sh': PRINT_ENV }, 'a test that prints its environment');
    expect(repo.push().ok).to.equal(true);
    const builds = await pollUntil(async () => { const b = await server.builds('repo=shop'); return b.length === 2 ? b : null; }, 'two builds');
    const done = await Promise.all(builds.map((b) => server.waitForBuild(b.id, 60_000)));
    const byName = Object.fromEntries(done.map((b) => [b.builder, b]));
    expect(byName.deploy.result).to.equal('passed');
    expect(byName.plain.result).to.equal('passed');

    const deployLog: string = await server.api(`/api/builds/${byName.deploy.id}/log`);
    const plainLog: string = await server.api(`/api/builds/${byName.plain.id}/log`);
    for (const log of [deployLog, plainLog]) {
      expect(log).to.contain('--- env');
      expect(log).not.to.contain(RUNNER_TOKEN);
      expect(log).not.to.contain(ADMIN_TOKEN);
      expect(log).not.to.contain(NPM_TOKEN);
      expect(log).not.to.contain(DEPLOY_KEY);
      const own = log.slice(log.indexOf('--- env'), log.indexOf("--- the runner's environment"));
      expect(own).not.to.contain('RUNNER_HIDDEN');
      expect(own).not.to.contain('GREENGATE_RUNNER_TOKEN');
      expect(own).not.to.contain('GREENGATE_ADMIN_TOKEN');
      expect(own).to.match(/^GREENGATE_BUILD=\d+$/m);
      expect(own).to.match(/^PATH=/m);
      expect(log).not.to.match(/^GREENGATE_(RUNNER|ADMIN)_TOKEN=(?!\[REDACTED\])/m);
    }
    // The unit that declared the secrets received them whole…
    expect(deployLog).to.contain(`npm token length: ${NPM_TOKEN.length}`);
    expect(deployLog).to.contain(`deploy key length: ${DEPLOY_KEY.length + 1}`);
    expect(deployLog).to.match(/^RUNNER_VISIBLE=shown-to-the-unit$/m);
    // …and its log shows them redacted, also when printed in two writes 0.3 s apart.
    expect(deployLog).to.contain(`whole: ${REDACTED}`);
    expect(deployLog).to.contain(`split: ${REDACTED}`);
    // The runner's own environment is out of the unit's reach (its sandbox has its own /proc).
    expect(deployLog).not.to.contain('GREENGATE_RUNNER_TOKEN=');
    expect(deployLog).not.to.contain('GREENGATE_ADMIN_TOKEN=');
    // The other builder's unit never got them.
    expect(plainLog).to.contain('npm token length: 0');
    expect(plainLog).to.contain('deploy key length: 0');
    expect(plainLog.slice(0, plainLog.indexOf("--- the runner's environment"))).not.to.contain('RUNNER_VISIBLE');
  });
});
