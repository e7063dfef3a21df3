import { expect } from 'chai';
import { GgError } from '../../../server/errors.js';
import { createHash } from 'node:crypto';
import {
  MAX_COMMITS_PER_REF,
  MAX_GATE_BODY_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_OPTIONS,
  parseGateRequest,
} from '../../../server/gate/request.js';

const ZERO = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

interface Commit { sha: string; raw: Buffer }

function commit(message: string | Buffer, algo: 'sha1' | 'sha256' = 'sha1'): Commit {
  const head = Buffer.from(
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n' +
      'author Ada <ada@example.com> 1700000000 +0000\ncommitter Ada <ada@example.com> 1700000000 +0000\n\n',
  );
  const raw = Buffer.concat([head, Buffer.isBuffer(message) ? message : Buffer.from(message)]);
  const sha = createHash(algo).update(`commit ${raw.length}\0`).update(raw).digest('hex');
  return { sha, raw };
}

function record(c: Commit, size = c.raw.length): Buffer {
  return Buffer.concat([Buffer.from(`${c.sha} commit ${size}\n`), c.raw, Buffer.from('\n')]);
}

function body(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

/** The refusal: GG_GATE_BAD_REQUEST (400) for a malformed body, GG_GATE_TOO_LARGE (413) over a cap. */
function parseError(b: Buffer): GgError {
  try {
    parseGateRequest(b);
  } catch (err) {
    expect(err).to.be.instanceOf(GgError);
    const e = err as GgError;
    expect(e.code).to.equal(e.status === 413 ? 'GG_GATE_TOO_LARGE' : 'GG_GATE_BAD_REQUEST');
    return e;
  }
  throw new Error('expected a GgError');
}

describe('parseGateRequest', () => {
  it('reads the pusher, the options and each update with its commits', () => {
    const c1 = commit('Add the cart\n\nLonger text.\n');
    const c2 = commit('Fix the cart\n\nFixes-build: 7\n');
    const req = parseGateRequest(
      body(
        'greengate-gate 1\npusher ada\noption greengate.bypass=the CI is on fire\noption ci.skip\n',
        `update ${A} ${c2.sha} refs/heads/main\n`,
        record(c2),
        record(c1),
        `update ${B} ${ZERO} refs/heads/old\n`,
        'end\n',
      ),
    );
    expect(req).to.deep.equal({
      pusher: 'ada',
      quarantine: null,
      options: ['greengate.bypass=the CI is on fire', 'ci.skip'],
      updates: [
        {
          old: A,
          new: c2.sha,
          ref: 'refs/heads/main',
          truncated: false,
          commits: [
            { sha: c2.sha, message: 'Fix the cart\n\nFixes-build: 7\n' },
            { sha: c1.sha, message: 'Add the cart\n\nLonger text.\n' },
          ],
        },
        { old: B, new: ZERO, ref: 'refs/heads/old', truncated: false, commits: [] },
      ],
    });
  });

  it('reads the quarantine of the push, once, before the first update', () => {
    const req = parseGateRequest(Buffer.from('greengate-gate 1\nquarantine /srv/git/shop.git/objects/tmp_objdir-incoming-Ab12\nend\n'));
    expect(req.quarantine).to.equal('/srv/git/shop.git/objects/tmp_objdir-incoming-Ab12');
    expect(() => parseGateRequest(Buffer.from('greengate-gate 1\nquarantine /a\nquarantine /b\nend\n'))).to.throw(/more than one "quarantine"/);
  });

  it('gives a null pusher and no options when the hook sent none', () => {
    const req = parseGateRequest(body('greengate-gate 1\n', `update ${A} ${B} refs/heads/main\n`, 'end\n'));
    expect(req.pusher).to.equal(null);
    expect(req.options).to.deep.equal([]);
    expect(req.updates[0].commits).to.deep.equal([]);
  });

  it('keeps forged field lines inside a commit message as message text', () => {
    const fake = commit('This reverts commit 1234567.\n');
    const forged =
      `Innocent\n\nupdate ${ZERO} ${B} refs/heads/forged\noption greengate.bypass=forged\n` +
      `${fake.sha} commit ${fake.raw.length}\nend\n`;
    const c = commit(forged);
    const req = parseGateRequest(body('greengate-gate 1\n', `update ${A} ${c.sha} refs/heads/main\n`, record(c), 'end\n'));
    expect(req.options).to.deep.equal([]);
    expect(req.updates).to.have.length(1);
    expect(req.updates[0].commits).to.deep.equal([{ sha: c.sha, message: forged }]);
  });

  it('keeps a NUL byte inside a commit message (records are framed by length)', () => {
    const c = commit(Buffer.from('Subject\n\0\nupdate x y refs/heads/z\n'));
    const req = parseGateRequest(body('greengate-gate 1\n', `update ${A} ${c.sha} refs/heads/main\n`, record(c), 'end\n'));
    expect(req.updates[0].commits[0].message).to.equal('Subject\n\0\nupdate x y refs/heads/z\n');
  });

  it('accepts SHA-256 repositories', () => {
    const c = commit('In a sha256 repository\n', 'sha256');
    const old = 'c'.repeat(64);
    const req = parseGateRequest(body('greengate-gate 1\n', `update ${old} ${c.sha} refs/heads/main\n`, record(c), 'end\n'));
    expect(req.updates[0].commits[0].sha).to.have.length(64);
  });

  it('refuses a record whose bytes do not hash to its id', () => {
    const c = commit('Real\n');
    const tampered = { sha: c.sha, raw: Buffer.from(c.raw.toString().replace('Real', 'Fake')) };
    const err = parseError(body('greengate-gate 1\n', `update ${A} ${c.sha} refs/heads/main\n`, record(tampered), 'end\n'));
    expect(err.message).to.match(/does not hash to its id/);
    expect(err.status).to.equal(400);
  });

  it('refuses a body that was cut short', () => {
    const c = commit('Cut\n');
    expect(parseError(body('greengate-gate 1\n', `update ${A} ${c.sha} refs/heads/main\n`)).message).to.match(/no "end" line/);
    const cut = record(c).subarray(0, 70);
    expect(parseError(body('greengate-gate 1\n', `update ${A} ${c.sha} refs/heads/main\n`, cut)).message).to.match(/shorter than its size|no "end"/);
    expect(parseError(body('greengate-gate 1\n', `update ${A} ${c.sha} refs/heads/main\n`, record(c, c.raw.length + 5), 'end\n')).message)
      .to.match(/shorter than its size/);
  });

  it('refuses anything after the end line', () => {
    expect(parseError(body('greengate-gate 1\nend\nupdate x\n')).message).to.match(/after the "end" line/);
  });

  it('names the version mismatch and the fix', () => {
    expect(parseError(body('greengate-gate 2\nend\n')).message).to.match(/speaks gate protocol 2, this server speaks 1: reinstall the hooks/);
    expect(parseError(body('hello\n')).message).to.match(/not a gate request/);
    expect(parseError(Buffer.alloc(0)).message).to.match(/ends early/);
  });

  it('refuses fields out of place or malformed', () => {
    const c = commit('x\n');
    const cases: [string | Buffer, RegExp][] = [
      [`update ${A} ${B} refs/heads/main\npusher ada\nend\n`, /"pusher" after the first "update"/],
      [`update ${A} ${B} refs/heads/main\noption x\nend\n`, /"option" after the first "update"/],
      ['pusher a\npusher b\nend\n', /more than one "pusher"/],
      ['pusher \nend\n', /empty "pusher"/],
      ['hello world\nend\n', /unknown line "hello world"/],
      [body(record(c), 'end\n'), /before any "update"/],
      [body(`update ${A} ${ZERO} refs/heads/main\n`, record(c), 'end\n'), /deletion of refs\/heads\/main/],
      [`update ${A} ${B} refs/heads/main\nupdate ${A} ${B} refs/heads/main\nend\n`, /updated twice/],
      [`update ${A} xyz refs/heads/main\nend\n`, /bad "update" line/],
      [`update ${A} ${'c'.repeat(64)} refs/heads/main\nend\n`, /bad "update" line/],
      [`update ${A} ${B} refs/heads/main extra\nend\n`, /bad "update" line/],
      [`update ${A} ${B} main\nend\n`, /bad ref name/],
    ];
    for (const [rest, pattern] of cases) {
      expect(parseError(body('greengate-gate 1\n', rest)).message).to.match(pattern);
    }
  });

  it('reports a commit list the hook could not read, naming the ref', () => {
    const missing = body('greengate-gate 1\n', `update ${A} ${B} refs/heads/main\n`, 'rev-list-failed missing\n', 'end\n');
    expect(parseError(missing).message).to.match(/could not list the new commits of refs\/heads\/main/);
    const error = body('greengate-gate 1\n', `update ${A} ${B} refs/heads/main\n`, 'error git cat-file failed\n', 'end\n');
    expect(parseError(error).message).to.match(/the hook could not read the push: git cat-file failed/);
  });

  it('caps the body, the message size and the options with status 413', () => {
    const big = Buffer.alloc(MAX_GATE_BODY_BYTES + 1, 0x61);
    const bodyErr = parseError(big);
    expect([bodyErr.status, bodyErr.code]).to.deep.equal([413, 'GG_GATE_TOO_LARGE']);
    expect(bodyErr.message).to.match(/push too big for the gate/);

    const long = commit(`Subject\n\n${'x'.repeat(MAX_MESSAGE_BYTES)}\n`);
    const msgErr = parseError(body('greengate-gate 1\n', `update ${A} ${long.sha} refs/heads/main\n`, record(long), 'end\n'));
    expect(msgErr.status).to.equal(413);
    expect(msgErr.message).to.match(/over the 65536-byte cap: shorten it/);

    const options = Array.from({ length: MAX_OPTIONS + 1 }, (_, i) => `option o${i}\n`).join('');
    expect(parseError(body('greengate-gate 1\n', options, 'end\n')).status).to.equal(413);
  });

  it('keeps the first 1000 commits of a ref and marks it truncated', () => {
    const commits = Array.from({ length: MAX_COMMITS_PER_REF + 1 }, (_, i) => commit(`Commit ${i}\n`));
    const req = parseGateRequest(
      body('greengate-gate 1\n', `update ${A} ${commits[0].sha} refs/heads/main\n`, ...commits.map((c) => record(c)), 'end\n'),
    );
    expect(req.updates[0].truncated).to.equal(true);
    expect(req.updates[0].commits).to.have.length(MAX_COMMITS_PER_REF);
    expect(req.updates[0].commits[999].message).to.equal('Commit 999\n');
  });
});
