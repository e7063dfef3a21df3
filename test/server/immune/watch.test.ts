/**
 * watchStage against real parts: the sample app (prom-client) under a load generator, scraped by
 * greengate itself and by Debian's prometheus (/usr/bin/prometheus, its own config and storage
 * in a temporary folder, 1 s scrapes, a free port). A "deploy" that raises the error rate from
 * 0.5 % to 5 % is a regression within the window + 10 s; one that changes nothing is not.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { watchSchema } from '../../../server/config/watch.js';
import { ScrapeHistory } from '../../../server/immune/scrape.js';
import { MAX_SLICES, followSource, slicesOf, verdictOf, watchStage } from '../../../server/immune/watch.js';
import { pollUntil, stopChild, tempHome } from '../../helpers.js';
import { SampleApp } from './sampleApp.js';

const WINDOW = 8; // seconds
const metrics = [
  { name: 'errors', kind: 'ratio', errors: 'http_requests_total{status=~"5.."}', total: 'http_requests_total' },
  { name: 'latency', kind: 'latency', histogram: 'http_request_duration_seconds' },
];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

describe('immune/watch: watchStage on a real app', function () {
  this.timeout(120_000);
  let app: SampleApp;
  let home: ReturnType<typeof tempHome>;
  let prometheus: ChildProcess | undefined;
  let promUrl = '';

  before(async () => {
    home = tempHome('gg-immune-');
    app = await new SampleApp().start();
    app.startLoad(300);
    const port = await freePort();
    const target = new URL(app.url).host;
    writeFileSync(join(home.dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: app\n    static_configs: [{ targets: ['${target}'] }]\n`);
    prometheus = spawn('/usr/bin/prometheus', [`--config.file=${join(home.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(home.dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    promUrl = `http://127.0.0.1:${port}`;
    await pollUntil(async () => {
      const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('sum(http_requests_total)')}`);
      const body = await r.json() as { data: { result: unknown[] } };
      return body.data.result.length > 0;
    }, 'prometheus to scrape the app', 30_000, 200);
  });
  after(async () => {
    await stopChild(prometheus);
    await app?.stop();
    home?.cleanup();
  });
  afterEach(() => { app.errorRate = 0.005; });

  it('scrape source: an error rate from 0.5 % to 5 % is a regression; the same rate is not', async () => {
    const spec = watchSchema.parse({ seconds: WINDOW, settleSeconds: 1, source: { scrape: `${app.url}/metrics`, interval: 0.5 }, metrics });
    const history = new ScrapeHistory();
    try {
      await followSource(spec, history);
      await pollUntil(() => history.scrapeCount(`${app.url}/metrics`) > 2 * WINDOW, 'a baseline of scrapes', 30_000, 100);
      const good = await watchStage(spec, { history });
      expect(good.regression, JSON.stringify(good.evidence)).to.equal(false);
      expect(good.evidence.map((e) => e.metric)).to.deep.equal(['errors', 'latency']);
      expect(good.evidence[0].before).to.be.greaterThan(0).and.lessThan(0.02);

      const started = Date.now();
      app.errorRate = 0.05;
      const bad = await watchStage(spec, { history });
      expect(Date.now() - started).to.be.lessThan((WINDOW + 10) * 1000);
      expect(bad.regression, JSON.stringify(bad.evidence)).to.equal(true);
      const errors = bad.evidence[0];
      expect(errors).to.include({ metric: 'errors', kind: 'ratio', regression: true });
      expect(errors.after).to.be.greaterThan(0.03);
      expect(errors.pValue).to.be.lessThan(0.001);
      expect(bad.evidence[1].regression).to.equal(false);
      expect(bad.evidence[1].samplesAfter!.length).to.be.greaterThan(0);
    } finally {
      history.close();
    }
  });

  it('Prometheus source: PromQL over its HTTP API, the same verdicts', async () => {
    const spec = watchSchema.parse({ seconds: WINDOW, settleSeconds: 2, source: { prometheus: promUrl }, metrics });
    // A clean baseline: no window of the previous test's 5 % left in Prometheus's last WINDOW seconds.
    const ratio = `sum(increase(http_requests_total{status="500"}[${WINDOW}s])) / sum(increase(http_requests_total[${WINDOW}s]))`;
    await pollUntil(async () => {
      const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(ratio)}`);
      const body = await r.json() as { data: { result: { value: [number, string] }[] } };
      return Number(body.data.result[0]?.value[1] ?? 1) < 0.015;
    }, 'a baseline window at 0.5 % in Prometheus', 40_000, 500);
    const good = await watchStage(spec);
    expect(good.regression, JSON.stringify(good.evidence)).to.equal(false);
    expect(good.evidence[0].before).to.be.greaterThan(0).and.lessThan(0.02);

    const started = Date.now();
    app.errorRate = 0.05;
    const bad = await watchStage(spec);
    expect(Date.now() - started).to.be.lessThan((WINDOW + 10) * 1000);
    expect(bad.regression, JSON.stringify(bad.evidence)).to.equal(true);
    expect(bad.evidence[0]).to.include({ metric: 'errors', regression: true });
    expect(bad.evidence[0].after).to.be.greaterThan(0.03);
  });

  it('a Prometheus that does not answer rejects, naming the source', async () => {
    const spec = watchSchema.parse({ seconds: 1, settleSeconds: 0, source: { prometheus: `http://127.0.0.1:${await freePort()}` }, metrics });
    let err: Error | undefined;
    await watchStage(spec).catch((e: Error) => { err = e; });
    expect(err?.message).to.match(/Prometheus at http:\/\/127\.0\.0\.1:\d+ did not answer/);
  });
});

describe('immune/watch: windows without data fail closed (verdictOf, slicesOf)', () => {
  const spec = { alpha: 0.01, metrics: [{ name: 'errors', kind: 'ratio' as const, errors: 'e', total: 't' }] };
  const before = { side: 'before' as const, from: 0, to: 10_000, readings: { errors: { kind: 'ratio' as const, errors: 10, total: 2_000 } } };
  const after = (from: number, errors: number | null) => ({ side: 'after' as const, from, to: from + 2_000,
    readings: { errors: errors === null ? null : { kind: 'ratio' as const, errors, total: 400 } } });

  it('a slice without data makes a verdict without regression inconclusive, naming the window', () => {
    const v = verdictOf(spec, [before, after(10_000, 2), after(12_000, null)], []);
    expect(v.regression).to.equal(false);
    expect(v.inconclusive).to.match(/^no data for errors after the stage \(00:00:12–00:00:14\)/);
    const all = verdictOf(spec, [before, after(10_000, 2), after(12_000, 2)], []);
    expect(all).to.include({ regression: false }).and.not.have.property('inconclusive');
  });

  it('no baseline at all is inconclusive (before issue 20: 0 against 0, no regression, promoted)', () => {
    const v = verdictOf(spec, [{ ...before, readings: { errors: null } }, after(10_000, 2)], []);
    expect(v.regression).to.equal(false);
    expect(v.inconclusive).to.match(/errors before the stage/);
    expect(v.evidence[0]).to.include({ metric: 'errors', regression: false });
    // The branch's first deploy: nothing ran before it, so no baseline is not missing data; a missing window after still is.
    const first = verdictOf(spec, [{ ...before, readings: { errors: null } }, after(10_000, 2)], [], { firstDeploy: true });
    expect(first).to.include({ regression: false }).and.not.have.property('inconclusive');
    expect(verdictOf(spec, [{ ...before, readings: { errors: null } }, after(10_000, null)], [], { firstDeploy: true }).inconclusive)
      .to.match(/^no data for errors after the stage/);
  });

  it('what was read shows a regression: a regression, missing windows or not', () => {
    const v = verdictOf(spec, [before, after(10_000, null), after(12_000, 40)], []);
    expect(v.regression).to.equal(true);
    expect(v.inconclusive).to.equal(undefined);
  });

  it('slices: a scraped page in slices of at least two scrapes (at most MAX_SLICES); Prometheus in one', () => {
    expect(slicesOf({ seconds: 8, source: { scrape: 'http://x/metrics', interval: 1 } }, 1_000)).to.deep.equal([[1_000, 3_000], [3_000, 5_000], [5_000, 7_000], [7_000, 9_000]]);
    expect(slicesOf({ seconds: 3600, source: { scrape: 'http://x/metrics', interval: 1 } }, 0)).to.have.length(MAX_SLICES);
    expect(slicesOf({ seconds: 1, source: { scrape: 'http://x/metrics', interval: 5 } }, 0)).to.deep.equal([[0, 1_000]]);
    expect(slicesOf({ seconds: 60, source: { prometheus: 'http://p:9090' } }, 0)).to.deep.equal([[0, 60_000]]);
  });
});

describe('immune/watch: a page nothing answered before the stage (the stage started its process)', () => {
  // A fake clock (the history's and the watch's `now`, `sleep` advances it) over a real page on loopback.
  const spec = watchSchema.parse({ seconds: 2, settleSeconds: 0, source: { scrape: 'http://x/metrics', interval: 1 },
    metrics: [{ name: 'errors', kind: 'ratio', errors: 'http_requests_total{status="500"}', total: 'http_requests_total' }] });
  let clock = 0;
  const now = () => clock;
  const sleep = async (ms: number) => { clock += ms; };
  let page: ReturnType<typeof createHttpServer> | undefined;
  let history: ScrapeHistory | undefined;
  afterEach(async () => {
    history?.close();
    await new Promise<void>((r) => (page?.listening ? page.close(() => r()) : r()));
  });
  const listen = (port: number, count = 40) => new Promise<void>((resolve) => {
    page = createHttpServer((_req, res) => res.end(`# TYPE http_requests_total counter\nhttp_requests_total{status="200"} ${count}\n`));
    page.listen(port, '127.0.0.1', () => resolve());
  });

  it('refused before the stage ended: the first slice counts the new process from 0 — no hold for "no data after the stage"', async () => {
    const port = await freePort();
    const watch = { ...spec, source: { scrape: `http://127.0.0.1:${port}/metrics`, interval: 1 } };
    clock = 1_000;
    history = new ScrapeHistory({ now });
    await followSource(watch, history); // refused: nothing listens yet
    await listen(port); // the stage starts the app, and ends at 5000 before any scrape of it
    const v = await watchStage(watch, { history, startedAt: 5_000, now, sleep, firstDeploy: true });
    expect(v.inconclusive, JSON.stringify(v)).to.equal(undefined);
    expect(v.regression).to.equal(false);
  });

  it('a scrape of the new process taken before the stage ended is not a baseline: no baseline, as when none was taken', async () => {
    const port = await freePort();
    const watch = { ...spec, source: { scrape: `http://127.0.0.1:${port}/metrics`, interval: 1 } };
    clock = 1_000;
    history = new ScrapeHistory({ now });
    await followSource(watch, history); // refused: nothing listens when the stage is queued at 2000
    await listen(port);
    clock = 3_000;
    await history.scrapeNow(watch.source.scrape); // the new release, scraped before the stage ended at 5000
    const held = await watchStage(watch, { history, startedAt: 5_000, stageStartedAt: 2_000, now, sleep });
    expect(held.inconclusive, JSON.stringify(held)).to.match(/^no data for errors before the stage/);
    const first = await watchStage(watch, { history, startedAt: 5_000, stageStartedAt: 2_000, now, sleep, firstDeploy: true });
    expect(first.inconclusive, JSON.stringify(first)).to.equal(undefined);
    expect(first.evidence[0].before, 'judged on the window after alone').to.be.NaN;
  });

  it('a process that answered before the stage began and stopped: its scrapes until the refusal are the baseline', async () => {
    const port = await freePort();
    const watch = { ...spec, source: { scrape: `http://127.0.0.1:${port}/metrics`, interval: 1 } };
    await listen(port);
    clock = 1_000;
    history = new ScrapeHistory({ now });
    await followSource(watch, history); // the release before answers
    await new Promise<void>((r) => page!.close(() => r()));
    clock = 1_500;
    await history.scrapeNow(watch.source.scrape); // refused: it stopped before the stage began at 2000
    await listen(port, 25); // the stage's new process
    const v = await watchStage(watch, { history, startedAt: 5_000, stageStartedAt: 2_000, now, sleep });
    expect(v.inconclusive, JSON.stringify(v)).to.equal(undefined);
    expect(v.evidence[0]).to.include({ metric: 'errors', before: 0, after: 0, regression: false });
  });

  it('a history that begins after the stage ended (the server restarted) is still missing: held', async () => {
    const port = await freePort();
    const watch = { ...spec, source: { scrape: `http://127.0.0.1:${port}/metrics`, interval: 1 } };
    await listen(port);
    clock = 5_500;
    history = new ScrapeHistory({ now });
    const v = await watchStage(watch, { history, startedAt: 5_000, now, sleep, firstDeploy: true });
    expect(v.inconclusive).to.match(/^no data for errors after the stage/);
  });
});
