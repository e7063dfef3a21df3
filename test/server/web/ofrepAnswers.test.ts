import { expect } from 'chai';
import { checkFlagsFile } from '../../../server/flags/definitions.js';
import { FlagSet } from '../../../server/flags/evaluator.js';
import { OfrepAnswers, matches, parseRequest, type OfrepDeps } from '../../../server/web/ofrepAnswers.js';

const TOKEN = 'shop-flags-token-0123456789';

describe('OFREP answers (web/ofrepAnswers.ts)', () => {
  const checked = checkFlagsFile(JSON.stringify({ flags: { banner: { state: 'ENABLED', variants: { a: 'Hello', b: 'Welcome' }, defaultVariant: 'b' } } }), 'flags.json');
  if (!checked.ok) throw new Error(checked.problems.join('; '));
  const set = new FlagSet(checked.set);
  const answers = (rate = 1000) => new OfrepAnswers({
    config: { repositories: [{ name: 'shop', flags: { file: 'flags.json', token: TOKEN, ratePerSecond: rate } }] } as unknown as OfrepDeps['config'],
    library: { of: () => ({ set, sha: null, problem: null, loadedAt: 0 }) },
    kills: { lookup: () => () => null },
  });

  it('finds the repository of a Bearer or X-API-Key token, and none for no token or a wrong one', () => {
    const a = answers();
    expect(a.repoOf({ authorization: `Bearer ${TOKEN}` })).to.equal('shop');
    expect(a.repoOf({ 'x-api-key': ` ${TOKEN} ` })).to.equal('shop');
    expect(a.repoOf({})).to.equal(null);
    expect(a.repoOf({ authorization: `Bearer ${TOKEN}x` })).to.equal(null);
    expect(a.repoOf({ authorization: `Basic ${TOKEN}` })).to.equal(null); // only Bearer carries the token in Authorization
    expect(a.repoOf({ authorization: 'Bearer wrong-token-0123456789', 'x-api-key': TOKEN })).to.equal(null); // a Bearer token wins over X-API-Key
  });

  it('parses bodies as OFREP says: none is an empty context, not JSON → PARSE_ERROR, a bad context → INVALID_CONTEXT', () => {
    expect(parseRequest('')).to.deep.equal({ ok: true, context: {} });
    expect(parseRequest('\uFEFF {"context": {"targetingKey": "u"}} ')).to.deep.equal({ ok: true, context: { targetingKey: 'u' } });
    expect(parseRequest('{')).to.include({ ok: false, errorCode: 'PARSE_ERROR' });
    expect(parseRequest('[1]')).to.include({ ok: false, errorCode: 'PARSE_ERROR' });
    expect(parseRequest('{"context": 5}')).to.include({ ok: false, errorCode: 'INVALID_CONTEXT' });
    expect(parseRequest('{"context": {"targetingKey": 5}}')).to.include({ ok: false, errorCode: 'INVALID_CONTEXT' });
  });

  it('answers a bulk with a strong ETag of its body, and 304 to an If-None-Match naming it (in a list, weakly, or *)', () => {
    const a = answers();
    const first = a.bulk('shop', '', undefined);
    expect(first.status).to.equal(200);
    expect(first.headers['Content-Type']).to.equal('application/json; charset=utf-8');
    expect(first.headers['Content-Length']).to.equal(Buffer.byteLength(first.text));
    const etag = String(first.headers.ETag);
    expect(a.bulk('shop', '', `"other", W/${etag}`)).to.deep.equal({ status: 304, headers: { ETag: etag }, text: '' });
    expect(matches('*', etag)).to.equal(true);
    expect(matches('"other"', etag)).to.equal(false);
    expect(matches(undefined, etag)).to.equal(false);
  });

  it('limits a repository to ratePerSecond with bursts of twice that: then 429 with Retry-After in whole seconds', () => {
    const a = answers(1);
    expect(a.take('shop')).to.equal(null);
    expect(a.take('shop')).to.equal(null);
    const over = a.take('shop')!;
    expect(over.status).to.equal(429);
    expect(over.headers['Retry-After']).to.equal('1');
    expect(JSON.parse(over.text).errorDetails).to.match(/over 1 evaluations per second/);
  });
});
