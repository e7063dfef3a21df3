import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { installHooks } from '../../server/gate/hookInstall.js';
import { REDACTED } from '../../server/protocol.js';
import { Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig } from '../helpers.js';
import { MailServer, NOTIFY_ENV, Receiver, notifyBlock } from '../notifyFixtures.js';

/** The builder secret the pushed test leaks; its halves and encodings must not show anywhere either. */
const SECRET = 'sk-live-4f9a1c7e2b8d0a6c5e3f';
const HALVES = [SECRET.slice(0, 14), SECRET.slice(14)];
const BASE64 = Buffer.from(SECRET).toString('base64');
const HEX = Buffer.from(SECRET).toString('hex');

/**
 * The pushed "test": prints the secret whole, split between stdout and stderr, split by a
 * newline, base64 and hex; and writes a JUnit report whose failing test carries it in its name,
 * classname, file, message, failure text and output. It fails.
 */
const LEAK = `#!/bin/sh
half=14
first=$(printf %s "$API_KEY" | cut -c1-$half)
rest=$(printf %s "$API_KEY" | cut -c$((half + 1))-)
printf 'whole: %s\\n' "$API_KEY"
printf 'streams: %s' "$first"
sleep 0.2
printf '%s\\n' "$rest" >&2
sleep 0.2
printf 'newline: %s\\n%s\\n' "$first" "$rest"
printf 'crlf: %s\\r\\n%s\\n' "$first" "$rest"
printf 'base64: %s\\n' "$(printf %s "$API_KEY" | base64)"
printf 'base64 with a newline: %s\\n' "$(echo "$API_KEY" | base64)"
printf 'hex: %s\\n' "$(printf %s "$API_KEY" | od -An -tx1 | tr -d ' \\n')"
cat > report.xml <<EOF
<testsuites><testsuite name="cart $API_KEY" tests="2" failures="1">
<testcase name="charges tax $API_KEY" classname="shop.$API_KEY" file="test/$API_KEY.js" time="0.01">
<failure message="expected $API_KEY to be hidden">AssertionError: $API_KEY at test/$API_KEY.js:1</failure>
<system-out>out $API_KEY</system-out><system-err>err $first
$rest</system-err>
</testcase>
<testcase name="adds items" classname="shop.cart" time="0.01"/>
</testsuite></testsuites>
EOF
echo "cart test failed" >&2
exit 1
`;

/** A mail as a reader sees it: quoted-printable soft breaks joined and escapes decoded. */
function decodeMail(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Every way the secret could show in `text`: whole, either half, base64 or hex. */
function leaks(text: string): string[] {
  return [SECRET, ...HALVES, BASE64.slice(0, 36), HEX.slice(0, 40), HEX.slice(0, 40).toUpperCase()].filter((s) => text.includes(s));
}

describe('redaction: a secret in a failing test reaches no API, page, log, notification or refusal (real server, runner, hooks, receivers)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let runner: ChildProcess;
  let receiver: Receiver;
  let mail: MailServer;

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    await receiver?.close();
    await mail?.close();
    home?.cleanup();
  });

  it('redacts the secret from every field the API, pages, raw log, webhooks, mails and the gate\'s refusal show', async () => {
    home = tempHome('gg-redact-');
    const repo = new Repo(home.dir);
    receiver = await new Receiver().start();
    mail = await new MailServer().start();
    server = new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [
      { name: 'unit', run: 'sh ./check.sh', junit: 'report.xml', timeout: 60, secrets: { API_KEY: { env: 'GG_TEST_API_KEY' } } },
    ] }], { notify: notifyBlock(receiver, mail, ['tree.closed', 'build.failed']) }));
    server.env = { ...NOTIFY_ENV, GG_TEST_API_KEY: SECRET };
    await server.start();
    installHooks(repo.bare, { server: server.url, repo: 'shop' });
    runner = await connectRunner(server, 'r1', home.dir);

    repo.commit({ 'check.sh': 'exit 0\n' }, 'a green start');
    expect(repo.push().ok).to.equal(true);
    const green = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'the green build');
    expect((await server.waitForBuild(green.id, 60_000)).result).to.equal('passed');
    repo.commit({ 'check.sh': LEAK }, 'a test that leaks the secret');
    const pushed = repo.push();
    expect(pushed.ok, pushed.output).to.equal(true);
    const b = await pollUntil(async () => (await server.builds('repo=shop')).find((x) => x.id > green.id), 'the build');
    const red = await server.waitForBuild(b.id, 60_000);
    expect(red.result).to.equal('failed');
    await pollUntil(async () => (await server.api('/api/tree/shop/main')).state === 'closed', 'the tree to close');
    await pollUntil(() => receiver.accepted('tree.closed').length && receiver.accepted('build.failed').length, 'both webhooks');
    // One mail per person per push: the tree.closed mail says all build.failed would (README, Notifications).
    await pollUntil(() => mail.to('oncall@example.com', 'tree.closed').length && mail.to('ada@example.com', 'tree.closed').length, 'the mails');
    const refused = repo.commit({ 'other.txt': 'x' }, 'an ordinary push to the closed tree');
    expect(refused).to.match(/^[0-9a-f]{40}$/);
    const refusal = repo.push();
    expect(refusal.ok).to.equal(false);

    const unit = (await server.build(red.id)).units[0];
    const text = async (path: string) => {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(200);
      return res.text();
    };
    const shown: Record<string, string> = {
      'GET /api/builds/:id': await text(`/api/builds/${red.id}`),
      'GET /api/builds': await text('/api/builds?repo=shop'),
      'the build page': await text(`/builds/${red.id}`),
      'the build log page': await text(`/builds/${red.id}/log`),
      'the unit log page': await text(`/units/${unit.id}/log`),
      'the raw build log': await text(`/api/builds/${red.id}/log`),
      'the raw unit log': await text(`/api/units/${unit.id}/log`),
      'the build fragment': await text(`/fragments/build/${red.id}`),
      'the home page': await text('/'),
      'the tests page': await text('/tests'),
      'a test\'s history (API)': await text(`/api/tests?repo=shop&name=${encodeURIComponent(`charges tax ${REDACTED}`)}`),
      'a test\'s history (page)': await text(`/tests/history?repo=shop&builder=unit&classname=${encodeURIComponent(`shop.${REDACTED}`)}` +
        `&name=${encodeURIComponent(`charges tax ${REDACTED}`)}`),
      '/tree': await text('/tree'),
      'the tree fragment': await text('/fragments/tree'),
      '/api/tree/shop/main': await text('/api/tree/shop/main'),
      '/api/tree-history/shop': await text('/api/tree-history/shop?branch=main'),
      'the tree.closed webhook': JSON.stringify(receiver.accepted('tree.closed').map((r) => r.body)),
      'the build.failed webhook': JSON.stringify(receiver.accepted('build.failed').map((r) => r.body)),
      'the mails': mail.mails.map((m) => decodeMail(m.raw)).join('\n'),
      'the refusal to the next pusher': refusal.output,
    };
    const found = Object.entries(shown).map(([where, text]) => [where, leaks(text)] as const).filter(([, l]) => l.length);
    expect(Object.fromEntries(found), 'where the secret shows').to.deep.equal({});

    // The failing test is still named and explained, with the secret replaced.
    const api = JSON.parse(shown['GET /api/builds/:id']);
    const failing = JSON.stringify(api);
    expect(failing).to.contain(`charges tax ${REDACTED}`).and.contain(`expected ${REDACTED} to be hidden`);
    expect(JSON.parse(shown['a test\'s history (API)']).results).to.have.length.above(0);
    for (const where of ['the tree.closed webhook', 'the build.failed webhook', 'the mails', 'the refusal to the next pusher', '/tree']) {
      expect(shown[where], where).to.contain(`charges tax ${REDACTED}`);
    }
    const log = shown['the raw unit log'];
    for (const line of ['whole: ', 'streams: ', 'newline: ', 'crlf: ', 'base64: ', 'base64 with a newline: ', 'hex: ']) {
      expect(log, line).to.contain(`${line}${REDACTED}`);
    }
    expect(log).to.contain('cart test failed');
  });
});
