import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { CloseCode, PROTOCOL_VERSION } from '../../server/protocol.js';
import { startRunner, stopChild, tempHome } from '../helpers.js';

/** The server's end faked: a WebSocket server that answers every hello with one close code. */
async function refusingServer(code: number, reason: string): Promise<{ url: string; hellos: any[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const hellos: any[] = [];
  wss.on('connection', (ws) => ws.once('message', (d) => { hellos.push(JSON.parse(d.toString())); ws.close(code, reason); }));
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, hellos,
    close: () => new Promise((resolve) => wss.close(() => resolve())),
  };
}

describe('runner connection: a refusal retrying cannot fix ends the runner', function () {
  this.timeout(30_000);

  for (const [code, reason, expected] of [
    [CloseCode.protocolVersion, `protocol ${PROTOCOL_VERSION} is not supported: this server speaks ${PROTOCOL_VERSION + 1}`, 'install the same greengate version'],
    [CloseCode.nameInUse, 'runner name "r1" is in use by another runner', 'give this one its own --name'],
  ] as const) {
    it(`exits 3 with a clear error on close code ${code}, after one attempt`, async () => {
      const home = tempHome();
      const fake = await refusingServer(code, reason);
      const runner = startRunner(fake.url, 'r1', home.dir);
      try {
        const exit = await new Promise<number | null>((resolve) => runner.once('exit', (c) => resolve(c)));
        expect(exit).to.equal(3);
        expect(runner.output).to.contain(`server refused this runner (${code}): ${reason}`);
        expect(runner.output).to.contain(expected);
        expect(fake.hellos).to.have.length(1);
        expect(fake.hellos[0].protocol).to.equal(PROTOCOL_VERSION);
        expect(fake.hellos[0].instance).to.match(/^[0-9a-f]{32}$/);
      } finally {
        await stopChild(runner);
        await fake.close();
        home.cleanup();
      }
    });
  }
});
