import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers.js';
import { checkFlagsFile, MAX_FLAGS_BYTES } from '../../../server/flags/definitions.js';
import { FlagSet, type OfrepSuccess } from '../../../server/flags/evaluator.js';

const flag = (extra: Record<string, unknown> = {}) => ({ state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', ...extra });
const problems = (doc: unknown) => {
  const c = checkFlagsFile(typeof doc === 'string' ? doc : JSON.stringify(doc), 'flags.json');
  return c.ok ? [] : c.problems;
};

describe('flags/definitions: checking a flags file', () => {
  it('accepts a valid file, groups in $evaluators included', () => {
    expect(problems({ flags: { a: flag({ targeting: { if: [{ $ref: 'qa' }, 'on'] } }) }, $evaluators: { qa: { in: [{ var: 'email' }, ['a@b.c']] } } })).to.deep.equal([]);
    expect(problems({ flags: {} })).to.deep.equal([]);
  });

  it('refuses, naming the file and the flag: a defaultVariant that is not a variant', () => {
    expect(problems({ flags: { a: flag({ defaultVariant: 'maybe' }) } })).to.deep.equal([
      'flags.json: flag "a" has defaultVariant "maybe", which is not one of its variants (on, off) — name one of them']);
  });

  it('refuses an unknown $ref, in a flag or in another evaluator', () => {
    expect(problems({ flags: { a: flag({ targeting: { if: [{ $ref: 'qa' }, 'on'] } }) } })[0]).to.match(/flag "a" uses \{"\$ref": "qa"\} but "\$evaluators" has no "qa"/);
    expect(problems({ flags: {}, $evaluators: { qa: { or: [{ $ref: 'admins' }, true] } } })[0]).to.match(/an evaluator uses \{"\$ref": "admins"\}/);
  });

  it('refuses a targeting rule flagd cannot parse, and what its schema refuses', () => {
    expect(problems({ flags: { a: flag({ targeting: { no_such_op: [1] } }) } })[0]).to.match(/\/flags\/a\/targeting must NOT have additional properties \("no_such_op"\)/);
    expect(problems({ flags: { a: flag({ state: 'ON' }) } })[0]).to.match(/\/flags\/a\/state must be equal to one of the allowed values/);
    expect(problems({ flags: { a: { state: 'ENABLED', variants: { on: true, n: 1 }, defaultVariant: 'on' } } })).not.to.deep.equal([]);
  });

  it('refuses what is not a flags file at all', () => {
    expect(problems('{ "flags": ')[0]).to.match(/^flags\.json is not JSON/);
    expect(problems([])[0]).to.match(/must be a JSON object with "flags"/);
    expect(problems({ flags: { a: 'on' } })[0]).to.match(/flag "a" must be an object/);
    expect(problems(' '.repeat(MAX_FLAGS_BYTES + 1))[0]).to.match(/is over 1048576 bytes/);
  });
});

describe('flags: the groups example of README.md', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Feature flags\n'));
  const json = /```json\n([\s\S]*?)```/.exec(section)![1];
  const checked = checkFlagsFile(json, 'flags.json');

  it('is a valid flags file', () => {
    expect(checked.ok ? [] : checked.problems).to.deep.equal([]);
  });

  it('gives the new cart to QA by e-mail domain, to the admins list, to 10 % of app 2.x users, and to nobody else', () => {
    if (!checked.ok) return expect.fail('invalid');
    const set = new FlagSet(checked.set);
    const cart = (ctx: Record<string, string>) => (set.evaluate('new-cart', ctx, () => null).body as OfrepSuccess).value;
    expect(cart({ targetingKey: 'u1', email: 'eve@qa.example.com', appVersion: '1.0.0' })).to.equal(true);
    expect(cart({ targetingKey: 'bob', email: 'bob@example.com', appVersion: '1.0.0' })).to.equal(true);
    expect(cart({ targetingKey: 'u1', email: 'eve@example.com', appVersion: '1.9.9' })).to.equal(false);
    let on = 0;
    for (let i = 0; i < 2000; i++) if (cart({ targetingKey: `user-${i}`, email: 'x@example.com', appVersion: '2.3.1' })) on++;
    expect(on / 2000).to.be.within(0.07, 0.13);
    expect((set.evaluate('checkout-color', { country: 'fr' }, () => null).body as OfrepSuccess).value).to.equal('blue');
  });
});
