import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { appFiles, freePort, modulesDir, stopApps } from '../../server/cli/demoApp.js';
import { ScrapeHistory } from '../../server/immune/scrape.js';
import { tempHome } from '../helpers.js';

/**
 * The demo's deploy script against a real app process and greengate's real scrape history: a
 * stage's watch starts when the script ends, and a first deploy's app did not exist before it, so
 * the window's first slice has data only if a scrape of the new process was taken before the end
 * (the demo's first canary deploy was held as "no data for errors after the stage" otherwise).
 */
describe('the demo app\'s deploy script (deploy/deploy.sh, restart.sh)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-demoapp-');
  let greengate: Server;
  const history = new ScrapeHistory();
  const deployed = join(home.dir, 'deployed');

  before(async () => {
    greengate = createServer((req, res) => { res.statusCode = req.url === '/healthz' ? 200 : 404; res.end(); });
    await new Promise<void>((r) => greengate.listen(0, '127.0.0.1', () => r()));
    writeFileSync(join(home.dir, 'greengate-url'), `http://127.0.0.1:${(greengate.address() as { port: number }).port}\n`);
    for (const [path, text] of Object.entries(appFiles())) {
      mkdirSync(join(home.dir, 'work', path, '..'), { recursive: true });
      writeFileSync(join(home.dir, 'work', path), text);
    }
  });

  after(async () => {
    stopApps(deployed);
    history.close();
    await new Promise((r) => greengate?.close(r));
    home.cleanup();
  });

  it('ends only once greengate has scraped the new app (a first deploy: nothing answered on the port before)', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/metrics`;
    await history.follow(url, 1000); // as the server follows every stage's watch from start-up: nothing answers yet
    expect(history.since(url), 'no scrape before the app exists').to.equal(null);
    const { stdout } = await promisify(execFile)('sh', ['deploy/deploy.sh', 'canary', deployed, String(port), modulesDir(), join(home.dir, 'greengate-url')],
      { cwd: join(home.dir, 'work'), env: { ...process.env, GREENGATE_COMMIT: 'a'.repeat(40) }, timeout: 25_000 });
    const ended = Date.now();
    expect(stdout).to.match(/deployed a{40} to canary/);
    const since = history.since(url);
    expect(since, 'a scrape of the new app was taken before the script ended').to.not.equal(null);
    expect(since!).to.be.at.most(ended);
  });
});
