import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLI, RUNNER_TOKEN, Repo, ServerProcess, git, gitEnv, pollUntil, stopChild, tempHome, writeConfig,
} from '../helpers.js';

const BANK_SECRET = 'bank-secret-value-7f3a9c';

/** A runner process with its token in a file AND in its environment (as many hosts have it). */
function startRunner(server: string, name: string, work: string, tokenFile: string, extra: string[] = []): ChildProcess & { output: string } {
  const child = spawn(process.execPath, [CLI, 'runner', '--server', server, '--name', name, '--slots', '2', '--work', work,
    '--token-file', tokenFile, ...extra], {
    env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { output: string };
  child.output = '';
  child.stdout!.on('data', (d) => { child.output += d; });
  child.stderr!.on('data', (d) => { child.output += d; });
  return child;
}

/**
 * The pushed "test": everything an attacker whose only power is pushing code would try. It prints
 * a FOUND line for each thing it got (never the value itself), and the test asserts there is none.
 */
function attackScript(o: { work: string; tokenFile: string; markers: string; tag: string; server: string }): string {
  return `#!/bin/sh
WORK='${o.work}'; TOKEN_FILE='${o.tokenFile}'; MARKERS='${o.markers}'; TAG='${o.tag}'; SERVER='${o.server}'
found() { echo "FOUND: $*"; }
echo "--- attack from $(pwd) as $(id -u)"
if [ -f second ]; then echo "--- second run: nothing more"; exit 0; fi
# (d) a child in its own session that should outlive the unit and write a marker later
setsid sh -c ": $TAG; sleep 1; echo late > '$MARKERS/late'; sleep 60" </dev/null >/dev/null 2>&1 &
# (c) a hook for the runner's next checkout, and writes into .git
mkdir -p .git/hooks 2>/dev/null
printf '#!/bin/sh\\necho ran > %s/hook\\nenv >> %s/hook\\n' "$MARKERS" "$MARKERS" > .git/hooks/post-checkout 2>/dev/null \\
  && chmod +x .git/hooks/post-checkout && found "planted .git/hooks/post-checkout"
echo x > .git/pwned 2>/dev/null && found "wrote into .git"
# (b) the runner's files
[ -s "$WORK/instance-id" ] && found "read $WORK/instance-id"
ls "$WORK/mirrors" 2>/dev/null | grep -v '^shop.git$' | grep -q . && found "saw other repositories' mirrors: $(ls "$WORK/mirrors" | tr '\\n' ' ')"
[ -s "$WORK/mirrors/shop.git/config" ] && found "read the runner's own mirror config"
[ -s "$TOKEN_FILE" ] && found "read the token file $TOKEN_FILE"
# the server's side on this host: its database, greengate.yml (the tokens), the repositories' hook secrets and hooks
[ -s "$SERVER/data/greengate.db" ] && found "read the server's database"
grep -q runnerToken "$SERVER/greengate.yml" 2>/dev/null && found "read greengate.yml"
for f in "$SERVER"/git/*.git/greengate-hook-secret "$SERVER"/git/*.git/config; do [ -s "$f" ] && found "read $f"; done
for d in "$WORK"/*/slot-*; do [ -d "$d" ] && [ "$d" != "$(pwd)" ] && found "saw another slot $d"; done
# (a) /proc: the runner token and the other repository's secret, as a stranger would look for them
printf '%s\\n' '${RUNNER_TOKEN}' > /tmp/needle-token
printf '%s\\n' '${BANK_SECRET}' > /tmp/needle-secret
token=''; secret=''; i=0
while [ $i -lt 12 ] && { [ -z "$token" ] || [ -z "$secret" ]; }; do
  n=0
  for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
    n=$((n + 1))
    [ -z "$token" ] && { tr '\\0' '\\n' < "$f"; } 2>/dev/null | grep -qFf /tmp/needle-token && token=$f && found "the runner token in $f"
    [ -z "$secret" ] && { tr '\\0' '\\n' < "$f"; } 2>/dev/null | grep -qFf /tmp/needle-secret && secret=$f && found "the bank's secret in $f"
  done
  i=$((i + 1)); sleep 0.2
done
rm -f /tmp/needle-token /tmp/needle-secret
echo "--- scanned $n /proc files $i times"
echo "--- attack done"
`;
}

describe('the unit sandbox (real server, runner, pushed attacks)', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess | undefined;
  let runner: (ChildProcess & { output: string }) | undefined;
  let tag = '';

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    delete process.env.GG_TEST_BANK_SECRET;
    // An attack that outlived its unit (the old code) is ended here, by the pids pgrep names.
    if (tag) for (const pid of spawnSync('pgrep', ['-f', tag], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    home?.cleanup();
  });

  it('keeps the runner token, other repositories\' secrets, the runner\'s files and .git out of reach, and leaves no process behind', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    const bank = new Repo(home.dir, 'bank');
    const work = join(home.dir, 'runner');
    const tokenFile = join(home.dir, 'runner-token');
    writeFileSync(tokenFile, RUNNER_TOKEN + '\n', { mode: 0o600 });
    const markers = join(home.dir, 'markers');
    mkdirSync(markers);
    tag = `gg-attack-${process.pid}-${Date.now()}`;
    process.env.GG_TEST_BANK_SECRET = BANK_SECRET;
    server = await new ServerProcess(writeConfig(home.dir, [
      { name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'sh ./attack.sh', timeout: 60 }] },
      { name: 'bank', path: bank.bare, builders: [{ name: 'unit', run: 'sleep 2', timeout: 60, secrets: { BANK_TOKEN: { env: 'GG_TEST_BANK_SECRET' } } }] },
    ])).start();
    delete process.env.GG_TEST_BANK_SECRET;
    runner = startRunner(server.url, 'r1', work, tokenFile);
    await pollUntil(async () => (await server!.api('/healthz')).runners === 1, 'the runner to connect');

    shop.commit({ 'attack.sh': attackScript({ work, tokenFile, markers, tag, server: home.dir }) }, 'a test that attacks its runner');
    expect(shop.push().ok).to.equal(true);
    const first = await pollUntil(async () => (await server!.builds('repo=shop'))[0], 'the shop build');
    await pollUntil(async () => (await server!.build(first.id)).units.some((u: any) => u.state === 'running'), 'the attack to run');
    bank.commit({ 'README': 'the bank\n' }, 'a bank commit whose unit holds a secret');
    expect(bank.push().ok).to.equal(true);

    const done = await server.waitForBuild(first.id, 60_000);
    // (d) checked the moment the unit has ended: nothing it started is alive.
    const alive = spawnSync('pgrep', ['-f', tag], { encoding: 'utf8' }).stdout.trim();
    const log: string = await server.api(`/api/builds/${first.id}/log`);
    expect(log, log).to.contain('--- attack done');
    expect(log.match(/^FOUND: .*$/gm) ?? [], log).to.deep.equal([]);
    expect(alive, 'processes of the unit still running after it ended').to.equal('');
    expect(done.result).to.equal('passed');
    // The bank's unit (its secret in its environment) ran while the attack searched /proc.
    const bankBuild = (await server.builds('repo=bank'))[0];
    const bankUnit = (await server.waitForBuild(bankBuild.id, 30_000)).units[0];
    const attackUnit = done.units[0];
    expect(bankUnit.startedAt, 'the bank unit started during the attack').to.be.below(attackUnit.finishedAt);

    // (c) the next checkout in the same slot: the planted hook (if any) never runs.
    shop.commit({ second: 'yes\n' }, 'a second push to the same slot');
    expect(shop.push().ok).to.equal(true);
    const second = await pollUntil(async () => (await server!.builds('repo=shop')).find((b: any) => b.id !== first.id), 'the second shop build');
    expect((await server.waitForBuild(second.id, 60_000)).result).to.equal('passed');
    expect(existsSync(join(markers, 'hook')), existsSync(join(markers, 'hook')) ? readFileSync(join(markers, 'hook'), 'utf8') : '').to.equal(false);
    expect(existsSync(join(markers, 'late'))).to.equal(false);
    expect(existsSync(join(work, 'shop', 'slot-0', '.git', 'pwned'))).to.equal(false);
  });

  it('gives a unit its own credential: its repository only, refused once the unit has ended', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    const bank = new Repo(home.dir, 'bank');
    server = await new ServerProcess(writeConfig(home.dir, [
      { name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'sh ./cred.sh', timeout: 60 }] },
      { name: 'bank', path: bank.bare, builders: [{ name: 'unit', run: 'true' }] },
    ])).start();
    const tokenFile = join(home.dir, 'runner-token');
    writeFileSync(tokenFile, RUNNER_TOKEN + '\n', { mode: 0o600 });
    runner = startRunner(server.url, 'r1', join(home.dir, 'runner'), tokenFile);
    await pollUntil(async () => (await server!.api('/healthz')).runners === 1, 'the runner to connect');
    const refs = (repo: string, token?: string) => fetch(`${server!.url}/git/${repo}.git/info/refs?service=git-upload-pack`,
      { headers: token ? { authorization: `Bearer ${token}` } : {} }).then((r) => r.status);
    shop.commit({ 'cred.sh': `#!/bin/sh
code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GREENGATE_UNIT_TOKEN" "${server.url}/git/$1.git/info/refs?service=git-upload-pack"; }
echo "own repository: $(code shop)"
echo "other repository: $(code bank)"
echo "reversed: $(printf %s "$GREENGATE_UNIT_TOKEN" | rev)"
` }, 'a test that tries its credential');
    expect(shop.push().ok).to.equal(true);
    const build = await pollUntil(async () => (await server!.builds('repo=shop'))[0], 'the shop build');
    expect((await server.waitForBuild(build.id)).result).to.equal('passed');
    const log: string = await server.api(`/api/builds/${build.id}/log`);
    expect(log).to.contain('own repository: 200');
    expect(log).to.contain('other repository: 401');
    const reversed = /^reversed: ([0-9a-f]*)$/m.exec(log)?.[1] ?? '';
    const unitToken = [...reversed].reverse().join('');
    expect(unitToken, log).to.match(/^[0-9a-f]{64}$/);
    expect(unitToken).not.to.equal(RUNNER_TOKEN);
    // Once its unit has ended the credential is worth nothing; without one nothing is served either.
    expect(await refs('shop', unitToken)).to.equal(401);
    expect(await refs('bank', unitToken)).to.equal(401);
    expect(await refs('shop')).to.equal(401);
    expect(await refs('shop', RUNNER_TOKEN)).to.equal(200);
  });

  it('ends a unit whose checkout is missing objects as exception, never as a test failure', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    server = await new ServerProcess(writeConfig(home.dir, [
      { name: 'shop', path: shop.bare, builders: [{ name: 'unit', run: 'test -f data.txt || { echo "no data.txt: a false red"; exit 1; }', timeout: 60 }] },
    ])).start();
    shop.commit({ 'data.txt': `content only this commit has ${Date.now()}\n` }, 'a commit whose blob goes missing');
    expect(shop.push().ok).to.equal(true);
    const build = await pollUntil(async () => (await server!.builds('repo=shop'))[0], 'the shop build');
    // The server's copy loses the blob (a disk fault, or objects the runner user cannot read).
    const blob = git(shop.work, 'rev-parse', 'HEAD:data.txt');
    rmSync(join(shop.bare, 'objects', blob.slice(0, 2), blob.slice(2)));
    const tokenFile = join(home.dir, 'runner-token');
    writeFileSync(tokenFile, RUNNER_TOKEN + '\n', { mode: 0o600 });
    runner = startRunner(server.url, 'r1', join(home.dir, 'runner'), tokenFile);
    const unit = await pollUntil(async () => (await server!.build(build.id)).units.find((u: any) => u.state === 'done'), 'the first unit to end');
    expect(unit.result, JSON.stringify(unit)).to.equal('exception');
    expect(unit.error).to.match(/checkout|commit|object|git/i);
    const log: string = await server.api(`/api/builds/${build.id}/log`);
    expect(log).not.to.contain('a false red');
  });

  it('never follows a link the unit made when the runner clears old JUnit reports', async () => {
    home = tempHome();
    const shop = new Repo(home.dir, 'shop');
    const victim = join(home.dir, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep.xml'), '<kept/>\n');
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: shop.bare, builders: [{
      name: 'unit', setup: `ln -s '${victim}' reports`, run: 'true', junit: 'reports/*.xml', timeout: 60, cache: [],
    }] }])).start();
    const tokenFile = join(home.dir, 'runner-token');
    writeFileSync(tokenFile, RUNNER_TOKEN + '\n', { mode: 0o600 });
    runner = startRunner(server.url, 'r1', join(home.dir, 'runner'), tokenFile);
    shop.commit({ 'README': 'shop\n' }, 'a setup that links a folder of the runner\'s host into the workspace');
    expect(shop.push().ok).to.equal(true);
    const build = await pollUntil(async () => (await server!.builds('repo=shop'))[0], 'the shop build');
    await server.waitForBuild(build.id);
    expect(existsSync(join(victim, 'keep.xml'))).to.equal(true);
  });

  it('refuses to start as root without a sandbox', async function () {
    if (process.getuid?.() !== 0) this.skip();
    home = tempHome();
    const tokenFile = join(home.dir, 'runner-token');
    writeFileSync(tokenFile, RUNNER_TOKEN + '\n', { mode: 0o600 });
    const child = startRunner('http://127.0.0.1:9', 'r1', join(home.dir, 'runner'), tokenFile, ['--sandbox', 'none']);
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    expect(code).to.equal(2);
    expect(child.output).to.contain('refusing to run units as root without a sandbox');
  });
});
