import { expect } from 'chai';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../server/main.js';
import { parseConfig } from '../../server/config/config.js';
import { extractPack, fetchPack, fetchRequest, packObjectCount } from '../../runner/packFetch.js';
import { RUNNER_TOKEN, Repo, tempHome } from '../helpers.js';

describe('packFetch: one commit\'s objects in one protocol-v2 request', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: RunningServer;

  before(async () => {
    home = tempHome();
    repo = new Repo(home.dir);
    const config = parseConfig(`runnerToken: ${RUNNER_TOKEN}\ndata: ./data\nrepositories:\n  - name: shop\n    path: ${repo.bare}\n` +
      '    builders: [{ name: unit, run: "true" }]\n', { baseDir: home.dir });
    server = await startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
  });
  after(async () => {
    await server.close();
    home.cleanup();
  });

  it('gets only the objects the haves do not cover', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 10; i++) files[`f${i}.txt`] = `file ${i}\n`;
    const first = repo.commit(files, 'ten files');
    const second = repo.commit({ 'f3.txt': 'changed\n' }, 'one changed');
    repo.push();
    const url = `${server.url}/git/shop.git`;
    const all = await fetchPack(url, RUNNER_TOKEN, second, []);
    expect(packObjectCount(all)).to.equal(2 + 2 + 11); // 2 commits, 2 trees, 11 blob versions
    const delta = await fetchPack(url, RUNNER_TOKEN, second, [first]);
    expect(packObjectCount(delta)).to.equal(3); // commit, tree, the changed blob
    const both = await fetchPack(url, RUNNER_TOKEN, [first, second], []);
    expect(packObjectCount(both)).to.equal(15);
  });

  it('throws the server\'s words for a wrong token or an unknown commit', async () => {
    const url = `${server.url}/git/shop.git`;
    let err: Error | null = null;
    await fetchPack(url, 'wrong-token-0', 'a'.repeat(40), []).catch((e: Error) => { err = e; });
    expect(String(err)).to.contain('answered 401');
    err = null;
    await fetchPack(url, RUNNER_TOKEN, 'a'.repeat(40), []).catch((e: Error) => { err = e; });
    expect(String(err)).to.match(/not our ref|upload-pack|no packfile/);
  });

  it('reads pkt-lines strictly', () => {
    expect(fetchRequest('b'.repeat(40), ['c'.repeat(40)])).to.match(/^0012command=fetch\n.*0032want b{40}\n0032have c{40}\n0009done\n0000$/s);
    expect(() => extractPack(Buffer.from('0013ERR no such ref\n'))).to.throw('the server refused the fetch: no such ref');
    expect(() => extractPack(Buffer.from('zzzz'))).to.throw('not git pkt-lines');
    expect(() => extractPack(Buffer.from('0000'))).to.throw('no packfile');
  });
});
