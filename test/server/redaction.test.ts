import { expect } from 'chai';
import { MAX_HELD_BREAKS, REDACTED, Redactor, SecretMatcher, redactStrings, redactionPatterns } from '../../server/redaction.js';

const SECRET = 'sk-live-4f9a1c7e2b8d0a6c5e3f';
const redact = (text: string, values = [SECRET]) => new SecretMatcher(values).redact(text);

/** Feeds `pieces` through a fresh Redactor the way a stream would, and returns all it let out. */
function stream(pieces: string[], values = [SECRET]): string {
  const r = new Redactor(values);
  return pieces.map((p) => r.push(p)).join('') + r.end();
}

describe('redaction (the protocol\'s rule for what a unit reports)', () => {
  it('lists the value, its hex (both cases), its padded base64 and the base64 of it at each byte alignment', () => {
    const p = redactionPatterns(`  ${SECRET}\n`);
    const bytes = Buffer.from(SECRET);
    expect(p).to.include.members([SECRET, bytes.toString('hex'), bytes.toString('hex').toUpperCase(), bytes.toString('base64')]);
    for (const prefix of ['x', 'xy']) {
      const enc = Buffer.concat([Buffer.from(prefix), bytes]).toString('base64');
      expect(p.some((x) => enc.includes(x) && x.length >= 30), `after ${prefix.length} byte(s)`).to.equal(true);
    }
    expect(p.map((x) => x.length)).to.deep.equal([...p.map((x) => x.length)].sort((a, b) => b - a));
    expect(redactionPatterns('abcde')).to.deep.equal([]);
  });

  it('catches the secret with a line break inserted at every position, in one piece and across two', () => {
    for (let cut = 1; cut < SECRET.length; cut++) {
      for (const br of ['\n', '\r\n', '\r', '\n\n']) {
        const text = `key: ${SECRET.slice(0, cut)}${br}${SECRET.slice(cut)} end\n`;
        expect(redact(text), `cut ${cut} ${JSON.stringify(br)}`).to.equal(`key: ${REDACTED}${br} end\n`);
        expect(stream([text.slice(0, 5 + cut), text.slice(5 + cut)]), `streamed, cut ${cut}`).to.equal(`key: ${REDACTED}${br} end\n`);
      }
    }
  });

  it('catches the secret base64-encoded at every alignment inside a longer encoded text, and wrapped at 76 columns', () => {
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      for (const suffix of ['', '\n', 'z', 'zz']) {
        const enc = Buffer.from(prefix + SECRET + suffix).toString('base64');
        const out = redact(`b64: ${enc}\n`);
        expect(out, `${JSON.stringify(prefix)} + secret + ${JSON.stringify(suffix)}`).to.contain(REDACTED);
        // What is left of the encoded text is at most the 2 characters either side that mix in other bytes.
        expect(out.replace(`b64: `, '').replace(REDACTED, '').trim().length).to.be.at.most(8);
      }
    }
    const long = SECRET.repeat(3); // base64 of 112 characters: `base64` wraps it
    const wrapped = Buffer.from(long).toString('base64').replace(/.{76}/g, '$&\n');
    expect(redact(wrapped, [long])).to.equal(`${REDACTED}\n`);
  });

  it('catches the secret as lower- and upper-case hex', () => {
    const hex = Buffer.from(SECRET).toString('hex');
    expect(redact(`${hex} ${hex.toUpperCase()}`)).to.equal(`${REDACTED} ${REDACTED}`);
  });

  it('holds a partial secret followed by line breaks, up to MAX_HELD_BREAKS of them, then lets it go', () => {
    const r = new Redactor([SECRET]);
    expect(r.push(`a ${SECRET.slice(0, 10)}\n`)).to.equal('a ');
    expect(r.push(`${SECRET.slice(10)}\nb`)).to.equal(`${REDACTED}\n\nb`);
    expect(r.push(`${SECRET.slice(0, 10)}${'\n'.repeat(MAX_HELD_BREAKS + 100)}`)).to.have.length(10 + MAX_HELD_BREAKS + 100);
    expect(r.end()).to.equal('');
    // One line break per write: held (no time spent going over the held ones again), up to the limit.
    expect(r.push(`x ${SECRET.slice(0, 10)}`)).to.equal('x ');
    for (let i = 0; i < MAX_HELD_BREAKS; i++) expect(r.push('\n')).to.equal('');
    expect(r.push('\n')).to.equal(`${SECRET.slice(0, 10)}${'\n'.repeat(MAX_HELD_BREAKS + 1)}`);
    const s = new Redactor([SECRET]);
    expect(s.push(`${SECRET.slice(0, 10)}\r\n`) + s.push('\n') + s.push(`${SECRET.slice(10)}!`)).to.equal(`${REDACTED}\r\n\n!`);
  });

  it('says where in the input each piece starts, and which ones replace a secret', () => {
    const r = new Redactor([SECRET]);
    const pieces = [...r.scan(`ab ${SECRET.slice(0, 5)}`), ...r.scan(`${SECRET.slice(5)}\ncd`), ...r.endPieces()];
    expect(pieces).to.deep.equal([
      { at: 0, length: 3, text: 'ab ', redacted: false },
      { at: 3, length: SECRET.length, text: REDACTED, redacted: true },
      { at: 3 + SECRET.length, length: 3, text: '\ncd', redacted: false },
    ]);
  });

  it('redacts every string of a nested value except a message type and a test status', () => {
    const out = redactStrings({ type: 'finished', n: 3, tests: [{ status: 'failed', name: `t ${SECRET}`, file: null }], error: SECRET },
      (s) => new SecretMatcher([SECRET]).redact(s));
    expect(out).to.deep.equal({ type: 'finished', n: 3, tests: [{ status: 'failed', name: `t ${REDACTED}`, file: null }], error: REDACTED });
  });
});
