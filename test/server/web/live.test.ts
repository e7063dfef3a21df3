import { expect } from 'chai';
import { startShopServer } from '../shopServer.js';
import WebSocket from 'ws';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../../server/main.js';
import { parseConfig } from '../../../server/config/config.js';
import { LIVE_PATH } from '../../../server/web/live.js';
import { RUNNER_TOKEN, Repo, pollUntil, tempHome } from '../../helpers.js';

describe('live hub: main closes it with the server', function () {
  this.timeout(20_000);
  const home = tempHome('gg-live-');
  let server: RunningServer;

  before(async () => {
    const repo = new Repo(home.dir);
    server = await startShopServer(home.dir, repo);
  });
  after(async () => {
    await server.close();
    home.cleanup();
  });

  it('ends every open live socket when the server closes, and close() does not wait on them', async () => {
    const url = server.url.replace('http', 'ws') + LIVE_PATH;
    const sockets = await Promise.all([url, `${url}?build=1`].map((u) => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(u);
      ws.once('message', (d) => { expect(JSON.parse(String(d)).t).to.equal('hello'); resolve(ws); });
      ws.once('error', reject);
    })));
    const ended = sockets.map((ws) => new Promise<void>((r) => ws.once('close', () => r())));
    const started = Date.now();
    await server.close();
    await Promise.all(ended);
    expect(Date.now() - started, 'close() took').to.be.below(5_000);
    await pollUntil(() => sockets.every((ws) => ws.readyState === WebSocket.CLOSED), 'the sockets to be closed', 5_000);
  });

  it('refuses a cross-site page (Origin of another host) with 403', async function () {
    const other = await startServer({ config: parseConfig(`runnerToken: ${RUNNER_TOKEN}\ndata: ./data2\nrepositories: []\n`, { baseDir: home.dir }),
      port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
    try {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(other.url.replace('http', 'ws') + LIVE_PATH, { headers: { origin: 'https://evil.example' } });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => { /* after unexpected-response */ });
      });
      expect(status).to.equal(403);
    } finally {
      await other.close();
    }
  });
});
