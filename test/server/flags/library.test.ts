import { expect } from 'chai';
import { pino } from 'pino';
import { parseConfig } from '../../../server/config/config.js';
import { FlagLibrary } from '../../../server/flags/library.js';
import { Repo, git, tempHome } from '../../helpers.js';

const log = pino({ level: 'silent' });
const flags = (dv: string) => JSON.stringify({ flags: { 'new-cart': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: dv } } });

describe('flags/library: the flag sets served, read with git', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let library: FlagLibrary;
  beforeEach(() => {
    home = tempHome('gg-library-');
    repo = new Repo(home.dir);
    library = new FlagLibrary(parseConfig(`runnerToken: abcdefgh\nrepositories:
  - { name: shop, path: ${repo.bare}, gate: [main, release], builders: [{ name: unit, run: "true" }], flags: { file: flags.json, token: shop-flags-token-0001 } }\n`,
    { baseDir: home.dir, env: {} }), log);
  });
  afterEach(() => home.cleanup());
  const served = () => (library.of('shop').set?.evaluate('new-cart', {}, () => null).body as { value?: boolean } | undefined)?.value;

  it('reads the file at the head of the first gated branch at start, and again when that branch is seen at a new head', async () => {
    await library.start();
    expect(library.of('shop')).to.include({ set: null, problem: 'main has no commit yet' });
    const first = repo.commit({ 'flags.json': flags('on') }, 'flags');
    repo.push();
    await library.start();
    expect(served()).to.equal(true);
    expect(library.of('shop').sha).to.equal(first);

    const second = repo.commit({ 'flags.json': flags('off') }, 'flags off');
    repo.push();
    library.refSeen('shop', 'refs/heads/release', second); // not the served branch
    library.refSeen('shop', 'refs/try/1', second);
    await library.reload('other'); // waits for nothing: no such repository
    expect(served()).to.equal(true);
    library.refSeen('shop', 'refs/heads/main', second);
    await library.reload('shop', second); // queued behind the refSeen load
    expect(served()).to.equal(false);
    expect(library.of('shop')).to.include({ sha: second, problem: null });
  });

  it('keeps serving the last good set when the head\'s file is invalid or missing, saying why', async () => {
    repo.commit({ 'flags.json': flags('on') }, 'flags');
    repo.push();
    await library.start();
    const bad = repo.commit({ 'flags.json': flags('maybe') }, 'bad');
    repo.push();
    await library.reload('shop', bad);
    expect(served()).to.equal(true);
    expect(library.of('shop').problem).to.match(/defaultVariant "maybe"/);
    git(repo.work, 'rm', '--quiet', 'flags.json');
    const gone = repo.commit({}, 'no flags');
    repo.push();
    await library.reload('shop', gone);
    expect(served()).to.equal(true);
    expect(library.of('shop').problem).to.match(/flags\.json is missing at/);
  });
});
