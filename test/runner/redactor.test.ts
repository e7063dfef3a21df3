import { expect } from 'chai';
import { Redactor, redactAll } from '../../runner/redactor.js';
import { REDACTED } from '../../server/protocol.js';

/** Feeds `pieces` through a fresh Redactor the way a stream would, and returns all it let out. */
function stream(values: string[], pieces: string[]): string {
  const r = new Redactor(values);
  return pieces.map((p) => r.push(p)).join('') + r.end();
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
});
