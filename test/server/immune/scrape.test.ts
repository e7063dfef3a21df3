import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { freePort } from '../../../server/cli/demoApp.js';
import { ScrapeHistory } from '../../../server/immune/scrape.js';

/**
 * ScrapeHistory.absentAt against a real node:http page on loopback (the clock is the history's
 * `now` option, so each scrape's time is known): nothing listening on the port (connection refused)
 * is an absent process; a page that answers, even with an error, is a process that is there.
 */
describe('immune/scrape: ScrapeHistory.absentAt (was a process there?)', () => {
  let page: Server | undefined;
  let history: ScrapeHistory | undefined;
  let clock = 0;
  afterEach(async () => {
    history?.close();
    await new Promise<void>((r) => (page?.listening ? page.close(() => r()) : r()));
    page = undefined;
  });

  /** A /metrics page on `port` answering `status` with one counter. */
  const listen = (port: number, status = 200) => new Promise<void>((resolve) => {
    page = createServer((_req, res) => { res.statusCode = status; res.end('# TYPE http_requests_total counter\nhttp_requests_total 7\n'); });
    page.listen(port, '127.0.0.1', () => resolve());
  });

  it('refused at the last attempt before t and no scrape kept from before t: absent; once a scrape before t is kept: not', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/metrics`;
    clock = 1_000;
    history = new ScrapeHistory({ now: () => clock });
    await history.follow(url, 60_000);
    expect(history.lastError(url)).to.match(/scraping/);
    expect(history.absentAt(url, 999), 'no attempt before: unknown').to.equal(false);
    expect(history.absentAt(url, 1_000)).to.equal(true);

    await listen(port);
    clock = 2_000;
    await history.scrapeNow(url);
    expect(history.scrapeCount(url)).to.equal(1);
    expect(history.absentAt(url, 1_500), 'the process answering at 2000 was not there at 1000').to.equal(true);
    expect(history.absentAt(url, 2_000), 'a scrape of it is kept').to.equal(false);
    // Its counters count from 0: the first scrape after the refusal counts whole.
    const sel = { name: 'http_requests_total', matchers: [] };
    expect(await history.reader(url).increase(sel, [], 1_500, 2_500)).to.equal(7);
    expect(history.absentAt('http://127.0.0.1:9/never-followed', 5_000), 'not followed: unknown').to.equal(false);
    // refusedAt: the refused attempt's time while it is the last one; null once the page answered.
    expect(history.refusedAt(url, 1_500)).to.equal(1_000);
    expect(history.refusedAt(url, 2_000)).to.equal(null);
    expect(history.refusedAt(url, 999)).to.equal(null);
  });

  it('a page that answers with an error (a process is there) is not absent, also after an earlier refusal', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/metrics`;
    clock = 1_000;
    history = new ScrapeHistory({ now: () => clock });
    await history.follow(url, 60_000);
    expect(history.absentAt(url, 1_000)).to.equal(true);
    await listen(port, 500);
    clock = 2_000;
    await history.scrapeNow(url);
    expect(history.lastError(url)).to.match(/answered 500/);
    expect(history.absentAt(url, 1_500)).to.equal(true);
    expect(history.absentAt(url, 2_000), 'the last attempt found a process answering 500').to.equal(false);
  });
});
