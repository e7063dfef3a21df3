/**
 * The sample app of the immune system's tests: a small Node HTTP server with prom-client
 * (requests counted by status, a latency histogram) whose error rate a test changes while a load
 * generator sends it requests — the "deploy" that does or does not regress.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { seededRandom } from '../../helpers.js';

export class SampleApp {
  errorRate = 0.005;
  latencyMs = 2;
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'http_requests_total', help: 'requests by status', labelNames: ['status'], registers: [this.registry] });
  private readonly latency = new Histogram({ name: 'http_request_duration_seconds', help: 'latency', registers: [this.registry],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });
  private server!: Server;
  private readonly random = seededRandom(7);
  private load: NodeJS.Timeout | null = null;
  url = '';

  async start(): Promise<this> {
    this.requests.inc({ status: '200' }, 0);
    this.requests.inc({ status: '500' }, 0);
    this.server = createServer((req, res) => {
      if (req.url === '/metrics') {
        void this.registry.metrics().then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text));
        return;
      }
      const fail = this.random() < this.errorRate;
      const seconds = (this.latencyMs * (1 + 0.3 * (2 * this.random() - 1))) / 1000;
      this.requests.inc({ status: fail ? '500' : '200' });
      this.latency.observe(seconds);
      res.writeHead(fail ? 500 : 200).end(fail ? 'error' : 'ok');
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Sends about `perSecond` requests a second (in batches every 50 ms) until stop(). */
  startLoad(perSecond: number): void {
    const batch = Math.max(1, Math.round(perSecond / 20));
    this.load = setInterval(() => {
      for (let i = 0; i < batch; i++) void fetch(`${this.url}/`).then((r) => r.arrayBuffer()).catch(() => {});
    }, 50);
  }

  async stop(): Promise<void> {
    if (this.load) clearInterval(this.load);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
