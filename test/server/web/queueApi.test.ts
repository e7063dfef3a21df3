import { expect } from 'chai';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { parseConfig } from '../../../server/config/config.js';
import { startServer, type RunningServer } from '../../../server/main.js';
import { RUNNER_TOKEN, ADMIN_TOKEN, Repo, tempHome } from '../../helpers.js';

/** Branch names with "/" (release/1.2) in the land queue's routes: public reads, with the slash written as is or as %2F. */
describe('web/queueApi and web/pagesQueue: branches whose names hold "/"', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  before(async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a\n' }, 'first');
    const config = stringify({ port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main', 'release/1.2'], builders: [{ name: 'unit', run: 'true' }],
        land: { 'release/1.2': 'queue' } }] });
    server = await startServer({ config: parseConfig(config, { baseDir: home.dir }), port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
  });
  after(async () => {
    await server?.close();
    home?.cleanup();
  });

  it('answers GET /api/queue/:repo/release/1.2 and …/release%2F1.2 without credentials', async () => {
    for (const path of ['/api/queue/shop/release/1.2', '/api/queue/shop/release%2F1.2']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(200);
      expect(await res.json(), path).to.include({ repo: 'shop', branch: 'release/1.2', mode: 'queue' });
    }
  });

  it('still answers 404 GG_QUEUE_NOT_FOUND for a branch without a land queue, slash or not', async () => {
    for (const path of ['/api/queue/shop/release/1.3', '/api/queue/shop/main']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(404);
      expect((await res.json() as { error: { code: string } }).error.code, path).to.equal('GG_QUEUE_NOT_FOUND');
    }
  });

  it('shows the page /queue/:repo/release/1.2 without credentials', async () => {
    for (const path of ['/queue/shop/release/1.2', '/queue/shop/release%2F1.2']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(200);
      expect(await res.text(), path).to.contain('release/1.2');
    }
  });
});
