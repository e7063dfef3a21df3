import { expect } from 'chai';
import { Redactor, UnitRedactor, redactAll } from '../../runner/redactor.js';
import { REDACTED, parseRunnerMessage, type FinishedMessage } from '../../server/protocol.js';

/** Feeds `pieces` through a fresh Redactor the way a stream would, and returns all it let out. */
function stream(values: string[], pieces: string[]): string {
  const r = new Redactor(values);
  return pieces.map((p) => r.push(p)).join('') + r.end();
}

/** Labelled pieces with neighbours of the same stream joined (as the log streamer queues them). */
function joined(pieces: { stream: string; text: string }[]): { stream: string; text: string }[] {
  const out: { stream: string; text: string }[] = [];
  for (const p of pieces) {
    if (out.at(-1)?.stream === p.stream) out.at(-1)!.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

describe('Redactor', () => {
  const SECRET = 's3cr3t-value-42';

  it('replaces every occurrence of a secret of 6 characters or more', () => {
    expect(redactAll(`a ${SECRET} b ${SECRET}\n`, [SECRET])).to.equal(`a ${REDACTED} b ${REDACTED}\n`);
  });

  it('leaves values shorter than 6 characters alone (they would mask ordinary words)', () => {
    expect(redactAll('the key is abcde', ['abcde'])).to.equal('the key is abcde');
  });

  it('catches a secret split across two pieces at every possible cut', () => {
    for (let cut = 1; cut < SECRET.length; cut++) {
      const out = stream([SECRET], [`token=${SECRET.slice(0, cut)}`, `${SECRET.slice(cut)} done\n`]);
      expect(out, `cut at ${cut}`).to.equal(`token=${REDACTED} done\n`);
    }
  });

  it('catches a secret spread one character per piece', () => {
    const out = stream([SECRET], ['>', ...SECRET.split(''), '<']);
    expect(out).to.equal(`>${REDACTED}<`);
  });

  it('holds back only a tail that could start a secret, and releases it at the end', () => {
    const r = new Redactor([SECRET]);
    expect(r.push('hello s3c')).to.equal('hello ');
    expect(r.push('ond line\n')).to.equal('s3cond line\n');
    expect(r.push('ends with s3cr')).to.equal('ends with ');
    expect(r.end()).to.equal('s3cr');
  });

  it('passes text through unchanged when there is nothing to redact', () => {
    const r = new Redactor([]);
    expect(r.active).to.equal(false);
    expect(r.push('abc')).to.equal('abc');
  });

  it('redacts each line of a multi-line secret (a key file) and the whole value', () => {
    const key = '-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END KEY-----\n';
    const out = redactAll(`cat: ${key}and again: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\r\n`, [key]);
    expect(out).not.to.contain('MIIBOgIBAAJBAKj34');
    expect(out).to.contain(REDACTED);
  });

  it('prefers the longest of overlapping secrets', () => {
    expect(redactAll('x=abcdefghij', ['abcdef', 'abcdefghij'])).to.equal(`x=${REDACTED}`);
  });

  it('catches a secret split between stdout and stderr: the streams are merged in arrival order before redaction', () => {
    const r = new UnitRedactor([SECRET]);
    const out = joined([...r.write('out', `key=${SECRET.slice(0, 6)}`), ...r.write('err', `${SECRET.slice(6)}\n`), ...r.write('err', 'oops\n'),
      ...r.write('out', 'done\n'), ...r.end()]);
    expect(out).to.deep.equal([{ stream: 'out', text: `key=${REDACTED}` }, { stream: 'err', text: '\noops\n' }, { stream: 'out', text: 'done\n' }]);
  });

  it('catches a secret split by a newline across stdout and stderr', () => {
    const r = new UnitRedactor([SECRET]);
    const out = [...r.write('err', `${SECRET.slice(0, 3)}\n`), ...r.write('out', `${SECRET.slice(3)} x`), ...r.end()];
    expect(out.map((p) => p.text).join('')).to.equal(`${REDACTED}\n x`);
    expect(out[0]!.stream).to.equal('err');
  });

  it('labels text with its own stream when no secret is near (nothing held back)', () => {
    const r = new UnitRedactor([SECRET]);
    expect(joined([...r.write('sys', '$ npm test\n'), ...r.write('out', 'ok\n'), ...r.write('err', 'warn\n')]))
      .to.deep.equal([{ stream: 'sys', text: '$ npm test\n' }, { stream: 'out', text: 'ok\n' }, { stream: 'err', text: 'warn\n' }]);
  });

  it('redacts every string of the finished report and keeps it within the protocol\'s lengths', () => {
    const six = 'abc123';
    const r = new UnitRedactor([SECRET, six]);
    const finished: FinishedMessage = {
      type: 'finished', unit: 1, exitCode: 1, signal: null, timedOut: false, error: `setup failed: ${SECRET}`, chunks: 0, durationMs: 1,
      testsError: `report ${SECRET}.xml: bad`, setupMs: null, cacheHit: null, fileTimes: [{ file: `t/${SECRET}.js`, ms: 1 }],
      tests: [{ name: `charges ${SECRET}`, classname: `shop.${SECRET}`, file: `t/${SECRET}.js`, durationMs: 1, status: 'failed',
        message: `expected ${SECRET.slice(0, 9)}\n${SECRET.slice(9)}` }, { name: six.repeat(333), classname: '', file: null, durationMs: 1, status: 'passed', message: null }],
    };
    const out = r.redactReport(finished);
    const text = JSON.stringify(out);
    expect(text).not.to.contain(SECRET.slice(0, 9)).and.not.to.contain(six);
    expect(out.tests[0]).to.deep.include({ name: `charges ${REDACTED}`, classname: `shop.${REDACTED}`, file: `t/${REDACTED}.js`, message: `expected ${REDACTED}\n` });
    expect(out.tests[1]!.name).to.have.length(2000);
    expect(out.error).to.equal(`setup failed: ${REDACTED}`);
    expect(() => parseRunnerMessage(JSON.stringify(out))).not.to.throw();
  });
});
