import { expect } from 'chai';
import { checkHygiene } from '../../../server/flags/hygiene.js';
import { Repo, tempHome } from '../../helpers.js';

describe('flags/hygiene (git grep at the served commit)', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  beforeEach(() => { home = tempHome(); repo = new Repo(home.dir); });
  afterEach(() => home.cleanup());

  it('lists flags no file names (the flags file left out) and OpenFeature calls naming undefined flags', async () => {
    const flags = JSON.stringify({ flags: { 'new-cart': {}, 'old-banner': {}, 'max-items': {} } });
    const sha = repo.commit({
      'flags.json': flags,
      'src/cart.ts': "const on = await client.getBooleanValue('new-cart', false, ctx);\nconst n = await client.getNumberValue(\"max-items\", 10);\n",
      'src/ghost.js': "client.getStringDetails( 'ghost-flag', 'red');\nclient.getObjectValue(`other-ghost`, {});\nclient.getBooleanValue('ghost-flag', false);\n",
      'README.md': 'the old-banner-ish page', // git grep -w: "-" is not a word character, so this names old-banner
    }, 'code and flags');
    expect(repo.push().ok).to.equal(true);
    const h = await checkHygiene(repo.bare, sha, 'flags.json', ['new-cart', 'old-banner', 'max-items']);
    expect(h.problem, h.problem ?? '').to.equal(null);
    expect(h.unreferenced).to.deep.equal([]); // README names old-banner (as a word: "-" is not a word character)
    expect(h.undefinedRefs).to.deep.equal([{ key: 'ghost-flag', file: 'src/ghost.js' }, { key: 'other-ghost', file: 'src/ghost.js' }]);

    const sha2 = repo.commit({ 'README.md': 'nothing here' }, 'drop the mention');
    expect(repo.push().ok).to.equal(true);
    const h2 = await checkHygiene(repo.bare, sha2, 'flags.json', ['new-cart', 'old-banner', 'max-items']);
    expect(h2.unreferenced).to.deep.equal(['old-banner']);
  });

  it('a tree that names no flag: every flag unreferenced, no references; a bad commit is a problem, not an exception', async () => {
    const sha = repo.commit({ 'flags.json': '{"flags": {"a-flag": {}}}', 'src/x.ts': 'export {};\n' }, 'nothing uses it');
    expect(repo.push().ok).to.equal(true);
    expect(await checkHygiene(repo.bare, sha, 'flags.json', ['a-flag'])).to.deep.include({ unreferenced: ['a-flag'], undefinedRefs: [], problem: null });
    const bad = await checkHygiene(repo.bare, 'f'.repeat(40), 'flags.json', ['a-flag']);
    expect(bad.problem).to.match(/could not search the code at ffffffffffff/);
  });
});
