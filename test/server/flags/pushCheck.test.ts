import { expect } from 'chai';
import { parseConfig } from '../../../server/config/config.js';
import { checkPushedFlags } from '../../../server/flags/pushCheck.js';
import type { GateRequest } from '../../../server/gate/request.js';
import { Repo, git, tempHome } from '../../helpers.js';

const ZERO = '0'.repeat(40);

describe('flags/pushCheck: the gate\'s check of a pushed flags file (real git objects)', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  beforeEach(() => { home = tempHome('gg-pushcheck-'); repo = new Repo(home.dir); });
  afterEach(() => home.cleanup());
  const shop = () => parseConfig(`runnerToken: abcdefgh\nrepositories:
  - { name: shop, path: ${repo.bare}, gate: [main, release], builders: [{ name: unit, run: "true" }], flags: { file: config/flags.json, token: shop-flags-token-0001 } }\n`,
  { baseDir: home.dir, env: {} }).repositories[0];
  const request = (sha: string, ref = 'refs/heads/main'): GateRequest => ({ pusher: null, options: [], quarantine: null,
    updates: [{ old: ZERO, new: sha, ref, commits: [], truncated: false }] });
  const pushed = (files: Record<string, string>) => {
    const sha = repo.commit(files, 'change');
    repo.push(`${sha}:refs/heads/scratch-${sha.slice(0, 7)}`); // the objects in the bare repository, as the quarantine would hold them
    return sha;
  };

  it('passes a valid file and refuses an invalid one on any gated branch, naming the file, the commit and the problem', async () => {
    const good = pushed({ 'config/flags.json': JSON.stringify({ flags: { a: { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on' } } }) });
    expect(await checkPushedFlags(shop(), request(good), null)).to.deep.equal([]);
    const bad = pushed({ 'config/flags.json': JSON.stringify({ flags: { a: { state: 'ENABLED', variants: { on: true }, defaultVariant: 'off' } } }) });
    const lines = await checkPushedFlags(shop(), request(bad, 'refs/heads/release'), null);
    expect(lines[0]).to.equal(`greengate: REFUSED release: config/flags.json at ${bad.slice(0, 12)} is not a valid flags file (flagd's schema):`);
    expect(lines[1]).to.contain('config/flags.json: flag "a" has defaultVariant "off", which is not one of its variants (on)');
  });

  it('refuses a push that removes the file; leaves ungated branches, tags, deletions and repositories without flags alone', async () => {
    const good = pushed({ 'config/flags.json': '{"flags": {}}' });
    git(repo.work, 'rm', '--quiet', 'config/flags.json');
    const gone = pushed({});
    expect((await checkPushedFlags(shop(), request(gone), null)).join('\n')).to.contain('config/flags.json is missing from the pushed commit');
    expect(await checkPushedFlags(shop(), request(gone, 'refs/heads/feature'), null)).to.deep.equal([]);
    expect(await checkPushedFlags(shop(), request(gone, 'refs/tags/v1'), null)).to.deep.equal([]);
    expect(await checkPushedFlags(shop(), { ...request(ZERO), updates: [{ old: good, new: ZERO, ref: 'refs/heads/main', commits: [], truncated: false }] }, null)).to.deep.equal([]);
    expect(await checkPushedFlags({ ...shop(), flags: undefined }, request(gone), null)).to.deep.equal([]);
  });
});
