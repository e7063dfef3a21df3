/**
 * For artifact tests: a real server in this process for repository "shop" with two builders
 * (`unit` and `pack`, each one unit, both `artifacts: ["dist/**"]`), a commit pushed before it
 * starts (so it builds it at once), and a raw WebSocket client playing the runner's end of the
 * protocol, which takes both units and keeps their assigns (with their unit credentials).
 */
import WebSocket from 'ws';
import type { RunningServer } from '../server/main.js';
import { PROTOCOL_VERSION, WS_PATH, type AssignMessage } from '../server/protocol.js';
import { RUNNER_TOKEN, Repo, pollUntil, tempHome } from './helpers.js';
import { shopConfig, startShopServer } from './server/shopServer.js';

export interface ArtifactShop {
  home: ReturnType<typeof tempHome>; server: RunningServer; ws: WebSocket; assigns: AssignMessage[];
  /** The assign of builder `name`'s unit. */
  of(name: 'unit' | 'pack'): AssignMessage;
  /** Reports the unit finished and waits until the server recorded it. */
  finish(unit: number): Promise<void>;
  /** Stops the server and starts it again on the same data (`server` is the new one); the raw runner is not connected to it. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function artifactShop(top: Record<string, unknown> = {}): Promise<ArtifactShop> {
  const home = tempHome('gg-artifacts-');
  const repo = new Repo(home.dir);
  repo.commit({ 'README': 'hello\n' }, 'first');
  repo.push();
  const builders = ['unit', 'pack'].map((name) => ({ name, run: 'true', artifacts: ['dist/**'] }));
  const config = shopConfig(home.dir, repo, { shop: { gate: ['main'], builders }, top });
  const server = await startShopServer(home.dir, repo, { config });
  const ws = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
  const assigns: AssignMessage[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string };
    if (m.type === 'assign') assigns.push(m as AssignMessage);
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name: 'raw', slots: 2, version: 'test', units: [] }));
  await pollUntil(() => assigns.length === 2, 'both units assigned');
  const shop: ArtifactShop = {
    home, server, ws, assigns,
    of: (name) => assigns.find((a) => a.builder.name === name)!,
    async finish(unit) {
      ws.send(JSON.stringify({ type: 'finished', unit, exitCode: 0, signal: null, timedOut: false, error: null, chunks: 0, durationMs: 1 }));
      await pollUntil(() => shop.server.store.units.get(unit)?.state === 'done', `unit ${unit} recorded as done`);
    },
    async restart() {
      ws.close();
      await shop.server.close();
      shop.server = await startShopServer(home.dir, repo, { config });
    },
    async close() {
      ws.close();
      await shop.server.close();
      home.cleanup();
    },
  };
  return shop;
}

/** PUT an artifact as a runner does; `token` absent: no Authorization header. */
export function putArtifact(server: RunningServer, unit: number, path: string, body: Buffer | string, token?: string): Promise<Response> {
  return fetch(`${server.url}/api/units/${unit}/artifacts?path=${encodeURIComponent(path)}`, {
    method: 'PUT', body: typeof body === 'string' ? body : new Uint8Array(body), headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}
