/**
 * POST /api/alertmanager over real HTTP and a real SQLite file: without or with a wrong token 401
 * and nothing recorded; with the token the firing alerts reach the AlertBook the watcher asks; a
 * replayed message (same fingerprint and startsAt) records nothing new.
 */
import { expect } from 'chai';
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore, type Store } from '../../../server/store/index.js';
import { tempHome } from '../../helpers.js';
import { AlertBook } from '../../../server/immune/alerts.js';
import { alertmanagerRouter } from '../../../server/web/alertmanagerApi.js';
import { errorHandler } from '../../../server/web/errorHandler.js';

const TOKEN = 'alertmanager-token-789';
const log = pino({ level: 'silent' });

describe('web/alertmanagerApi: POST /api/alertmanager', () => {
  let server: Server;
  let url = '';
  let alerts: AlertBook;
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  // Built per call: a startsAt taken when the file loaded would be minutes old by the time a test runs in the full suite.
  const body = () => ({ version: '4', status: 'firing', alerts: [
    { status: 'firing', labels: { alertname: 'HighErrors', service: 'shop' }, startsAt: new Date().toISOString(), fingerprint: 'a1' },
    { status: 'resolved', labels: { alertname: 'Old', service: 'shop' }, startsAt: '2020-01-01T00:00:00Z', endsAt: '2020-01-01T01:00:00Z' },
  ] });
  const post = (headers: Record<string, string>, payload: unknown = body()) => fetch(`${url}/api/alertmanager`,
    { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) });

  beforeEach(async () => {
    home = tempHome('gg-alertmanager-');
    store = openStore(join(home.dir, 'greengate.db'));
    alerts = new AlertBook(store.alerts);
    const web = express();
    web.use('/api', alertmanagerRouter({ token: () => TOKEN, alerts, log }));
    web.use(errorHandler({ log, renderErrorPage: () => 'error', storageError: () => null } as never));
    server = createServer(web);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    store.close();
    home.cleanup();
  });

  it('refuses a call without credentials or with a wrong token (401) and records nothing', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token' }, { authorization: TOKEN }]) {
      const res = await post(headers);
      expect(res.status).to.equal(401);
      expect((await res.json()).error.code).to.equal('GG_ALERTMANAGER_TOKEN');
    }
    expect(alerts.size()).to.equal(0);
  });

  it('records the alerts; the watcher sees the one firing for the service since a moment', async () => {
    const since = Date.now() - 60_000;
    const res = await post({ authorization: `Bearer ${TOKEN}` });
    expect(res.status).to.equal(202);
    expect(await res.json()).to.deep.equal({ recorded: 2, ignored: 0 });
    expect(alerts.alertsFiring('shop', since).map((a) => a.name)).to.deep.equal(['HighErrors']);
    expect(alerts.alertsFiring('other', since)).to.deep.equal([]);
  });

  it('a replayed message (same fingerprint and startsAt) records nothing: not even a firing alert that has resolved since', async () => {
    const startsAt = new Date(Date.now() - 5_000).toISOString();
    const firing = { alerts: [{ status: 'firing', labels: { alertname: 'HighErrors', service: 'shop' }, startsAt, fingerprint: 'f1' }] };
    const resolved = { alerts: [{ status: 'resolved', labels: { alertname: 'HighErrors', service: 'shop' }, startsAt,
      endsAt: new Date().toISOString(), fingerprint: 'f1' }] };
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect(await (await post(auth, firing)).json()).to.deep.equal({ recorded: 1, ignored: 0 });
    expect(await (await post(auth, firing)).json()).to.deep.equal({ recorded: 0, ignored: 1 });
    expect(await (await post(auth, resolved)).json()).to.deep.equal({ recorded: 1, ignored: 0 });
    expect(await (await post(auth, firing)).json()).to.deep.equal({ recorded: 0, ignored: 1 }); // the replay does not fire it again
    expect(alerts.size()).to.equal(1);
    expect(alerts.alertsFiring('shop', Date.now() - 60_000)[0].endsAt).to.be.a('number');
  });

  it('an alert without a startsAt is refused (400), naming the field', async () => {
    const res = await post({ authorization: `Bearer ${TOKEN}` }, { alerts: [{ status: 'firing', labels: { alertname: 'X' } }] });
    expect(res.status).to.equal(400);
    expect((await res.json()).error.message).to.match(/alerts\.0\.startsAt/);
    expect(alerts.size()).to.equal(0);
  });

  it('refuses a body that is not a webhook message, naming the field', async () => {
    const res = await post({ authorization: `Bearer ${TOKEN}` }, { alerts: [{ status: 'burning', labels: {} }] });
    expect(res.status).to.equal(400);
    expect((await res.json()).error.message).to.match(/alerts\.0\.status/);
  });
});
