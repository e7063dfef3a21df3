import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers.js';
import { checkFlagsFile } from '../../../server/flags/definitions.js';
import { FlagSet, type OfrepSuccess } from '../../../server/flags/evaluator.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'flagd-testbed');
const notKilled = () => null;

interface Vector { scenario: string; tags: string[]; flag: string; fallback: string; context: Record<string, unknown>; value: string; reason: string | null }

/** The Examples rows (and plain scenarios) of flagd-testbed's fractional.feature, each with its tags. */
function vectors(text: string): Vector[] {
  const out: Vector[] = [];
  const blocks = text.split(/\n(?=\s*(?:@[\w-]+\s*\n\s*)*Scenario)/);
  for (const block of blocks) {
    const head = /((?:@[\w-]+\s*\n\s*)*)Scenario(?: Outline)?:\s*(.+)/.exec(block);
    if (!head) continue;
    const scenarioTags = head[1].match(/@[\w-]+/g) ?? [];
    const steps = block.split('\n').map((l) => l.trim());
    const [, flag, fallback] = /String-flag with key "([^"]+)" and a fallback value "([^"]*)"/.exec(block)!;
    const expected = /the resolved details value should be "([^"]*)"/.exec(block)![1];
    const reason = /the reason should be "([^"]*)"/.exec(block)?.[1] ?? null;
    const contextOf = (row: Record<string, string>): Record<string, unknown> => {
      const fill = (s: string) => s.replace(/<(\w+)>/g, (_m, k: string) => row[k] ?? '');
      const ctx: Record<string, unknown> = {};
      for (const step of steps) {
        let m = /nested property with outer key "([^"]+)" and inner key "([^"]+)", with value "([^"]*)"/.exec(step);
        if (m) { ctx[m[1]] = { [m[2]]: fill(m[3]) }; continue; }
        m = /a targeting key with value "([^"]*)"/.exec(step);
        if (m) { ctx.targetingKey = fill(m[1]); continue; }
        m = /a key "([^"]+)", with type "String" and with value "([^"]*)"/.exec(step);
        if (m) ctx[m[1]] = fill(m[2]);
      }
      return ctx;
    };
    const tables = [...block.matchAll(/((?:@[\w-]+\s*\n\s*)*)Examples:[^\n]*\n((?:\s*\|.*\|\s*\n?)+)/g)];
    if (tables.length === 0) {
      out.push({ scenario: head[2].trim(), tags: scenarioTags, flag, fallback, context: contextOf({}), value: expected, reason });
      continue;
    }
    for (const t of tables) {
      const tags = [...scenarioTags, ...(t[1].match(/@[\w-]+/g) ?? [])];
      const rows = t[2].trim().split('\n').map((l) => l.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim()));
      const [names, ...data] = rows;
      for (const cells of data) {
        const row = Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
        out.push({ scenario: `${head[2].trim()} ${JSON.stringify(row)}`, tags, flag, fallback, context: contextOf(row),
          value: expected.replace(/<(\w+)>/g, (_m, k: string) => row[k] ?? ''), reason });
      }
    }
  }
  return out;
}

describe('flags/evaluator: flagd-testbed fractional golden vectors', () => {
  const all = vectors(readFileSync(join(FIXTURES, 'fractional.feature'), 'utf8'));
  // The testkit holds deliberately broken flags for other features (greengate refuses those): only the fractional ones.
  const testkit = JSON.parse(readFileSync(join(FIXTURES, 'testkit-flags.json'), 'utf8'));
  const used = new Set(all.map((v) => v.flag));
  const flags = Object.fromEntries(Object.entries(testkit.flags).filter(([k]) => used.has(k)));
  // Given to flagd-core as they are (not through checkFlagsFile: the @operator-errors rows use weights its schema refuses).
  const set = new FlagSet({ text: JSON.stringify({ flags, $evaluators: testkit.$evaluators }), flags: flags as never, evaluators: testkit.$evaluators });
  // flagd-core 4 implements the high-precision bucketing (@fractional-v2), nested expressions and the operator errors.
  const ours = all.filter((v) => !v.tags.includes('@fractional-v1'));

  it('reads every scenario of the feature file (v1 rows are the legacy bucketing, not ours)', () => {
    expect(all.length).to.be.greaterThan(40);
    expect(ours.length).to.be.greaterThan(30);
  });

  for (const v of vectors(readFileSync(join(FIXTURES, 'fractional.feature'), 'utf8')).filter((x) => !x.tags.includes('@fractional-v1'))) {
    it(`${v.flag}: ${v.scenario} → ${v.value}`, () => {
      const e = set.evaluate(v.flag, v.context as never, notKilled);
      const body = e.body as OfrepSuccess;
      // What an SDK resolves: the served value, or its own fallback when the answer has none.
      const value = e.status === 200 && body.value !== undefined ? body.value : v.fallback;
      expect(value).to.equal(v.value);
      if (v.reason) expect(body.reason).to.equal(v.reason);
    });
  }
});

describe('flags/evaluator: OFREP answers', () => {
  const file = JSON.stringify({ flags: {
    'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off',
      targeting: { if: [{ $ref: 'qa' }, 'on', { fractional: [['on', 50], ['off', 50]] }] } },
    'no-default': { state: 'ENABLED', variants: { a: 'A', b: 'B' }, targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'b'] } },
    'switched-off': { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
  }, $evaluators: { qa: { ends_with: [{ var: 'email' }, '@qa.example.com'] } } });
  const checked = checkFlagsFile(file, 'flags.json');
  if (!checked.ok) throw new Error(checked.problems.join('\n'));
  const set = new FlagSet(checked.set);
  const killed = (key: string) => (key === 'new-cart' ? { actor: 'ada', message: null, at: 1 } : null);

  it('answers 404 FLAG_NOT_FOUND with key, errorCode and errorDetails for an unknown key', () => {
    const e = set.evaluate('nope', {}, notKilled);
    expect(e.status).to.equal(404);
    expect(e.body).to.include({ key: 'nope', errorCode: 'FLAG_NOT_FOUND' });
    expect((e.body as { errorDetails: string }).errorDetails).to.be.a('string');
  });

  it('matches a group from $evaluators (TARGETING_MATCH) and accepts a context without targetingKey', () => {
    expect(set.evaluate('new-cart', { email: 'eve@qa.example.com' }, notKilled).body).to.include({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    expect(set.evaluate('new-cart', {}, notKilled).status).to.equal(200);
  });

  it('serves a killed flag its defaultVariant to every context, reason DISABLED', () => {
    for (const ctx of [{ email: 'eve@qa.example.com' }, { targetingKey: 'u1' }, {}] as Record<string, string>[]) {
      expect(set.evaluate('new-cart', ctx, killed).body).to.include({ value: false, variant: 'off', reason: 'DISABLED' });
    }
  });

  it('answers a disabled flag, or one without a default that no rule matched, with no value (the SDK default)', () => {
    const off = set.evaluate('switched-off', {}, notKilled);
    expect(off.status).to.equal(200);
    expect(off.body).to.include({ reason: 'DISABLED' }).and.not.to.have.property('value');
    const none = set.evaluate('no-default', { plan: 'free' }, notKilled);
    expect(none.body).to.include({ reason: 'DEFAULT' }).and.not.to.have.property('value');
    expect(set.evaluate('no-default', { plan: 'pro' }, notKilled).body).to.include({ value: 'B', reason: 'TARGETING_MATCH' });
  });

  it('bulk leaves out flags without a value but keeps a killed flag with its default', () => {
    const keys = set.evaluateAll({ targetingKey: 'u1', plan: 'free' }, killed).map((f) => [f.key, f.value, f.reason]);
    expect(keys).to.deep.equal([['new-cart', false, 'DISABLED']]);
  });
});
