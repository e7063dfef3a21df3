import { expect } from 'chai';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync } from 'node:fs';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { authorizeHook } from '../../../server/web/hookAuth.js';
import { GgError } from '../../../server/errors.js';
import { HOOK_SECRET_HEADER, ensureHookSecret, hookSecretPath } from '../../../server/gate/hookSecret.js';
import { hookMetricsOf } from '../../../server/metrics.js';
import { Repo, tempHome } from '../../helpers.js';

// A real HTTP server in front of authorizeHook and a real bare repository with its hook secret file.

describe('web/hookAuth: only the repository\'s own hooks may call the hook routes', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: Server;
  let url: string;
  let registry: Registry;

  beforeEach(async () => {
    home = tempHome('gg-hookauth-');
    repo = new Repo(home.dir);
    registry = new Registry();
    const deps = { config: { repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [] }] } as never,
      metrics: hookMetricsOf(registry), log: pino({ level: 'silent' }) };
    const app = express();
    app.post('/:route/:repo', (req, res) => {
      try {
        const r = authorizeHook(deps, req.params.repo, req, req.params.route === 'gate' ? 'gate' : 'changes');
        res.json({ ok: r.name });
      } catch (err) {
        const e = err as GgError;
        res.status(e.code === 'GG_UNKNOWN_REPO' ? 404 : 401).json({ code: e.code, message: e.message });
      }
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    home.cleanup();
  });

  const call = (path: string, secret?: string) => fetch(url + path, { method: 'POST', headers: secret === undefined ? {} : { [HOOK_SECRET_HEADER]: secret } });
  const counted = async () => (await registry.getMetricsAsJSON()).flatMap((m) => m.values.map((v) => `${m.name}${JSON.stringify(v.labels)} ${v.value}`));

  it('lets the hooks in with the secret of their repository', async () => {
    const secret = ensureHookSecret(repo.bare);
    const res = await call('/gate/shop', secret);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ ok: 'shop' });
  });

  it('refuses a call without credentials, with a wrong secret, or while the secret file is readable by others; counts each', async () => {
    const secret = ensureHookSecret(repo.bare);
    const none = await call('/gate/shop');
    expect(none.status).to.equal(401);
    expect(await none.json()).to.include({ code: 'GG_HOOK_SECRET' });
    expect((await call('/changes/shop', 'f'.repeat(64))).status).to.equal(401);
    chmodSync(hookSecretPath(repo.bare), 0o644);
    const exposed = await call('/gate/shop', secret);
    expect(exposed.status).to.equal(401);
    expect((await exposed.json() as { message: string }).message).to.match(/can be read by other users/);
    expect(await counted()).to.include.members(['greengate_gate_unauthenticated_total{} 2', 'greengate_changes_rejected_total{"reason":"unauthenticated"} 1']);
  });

  it('answers an unknown repository before looking at any secret', async () => {
    const res = await call('/gate/bank');
    expect(res.status).to.equal(404);
    expect(await res.json()).to.include({ code: 'GG_UNKNOWN_REPO' });
    expect(await counted()).to.include('greengate_gate_unauthenticated_total{} 0');
  });
});
