/**
 * `npm run bench:artifacts`: a 100 MB artifact uploaded by the runner's uploader and downloaded
 * by its downloader (runner/artifacts.ts) to and from a real `greengate serve` process on
 * loopback, with a unit credential taken by a raw runner socket. Prints MB/s each way (targets:
 * ≥ 200 MB/s) and the server's peak RSS growth (VmHWM before and after; target < 20 MB: streamed,
 * never buffered). SIZE_MB changes the size.
 */
import { readFileSync, writeFileSync, mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, WS_PATH, type AssignMessage } from '../../server/protocol.js';
import { downloadArtifacts, uploadArtifacts } from '../../runner/artifacts.js';
import { RUNNER_TOKEN, Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../helpers.js';

const SIZE_MB = Number(process.env.SIZE_MB ?? 100);
const peakKb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const home = tempHome('gg-bench-artifacts-');
const repo = new Repo(home.dir);
const builders = [{ name: 'unit', run: 'true', artifacts: ['big.bin'] }] as unknown as Parameters<typeof writeConfig>[1][0]['builders'];
const server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders }],
  { artifactLimits: { maxFileBytes: 2 ** 31 } })).start();
try {
  const ws = new WebSocket(server.url.replace('http', 'ws') + WS_PATH);
  let assign: AssignMessage | null = null;
  ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.type === 'assign') assign = m; });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token: RUNNER_TOKEN, name: 'bench', slots: 1, version: 'bench', units: [] }));
  repo.commit({ 'README': 'x\n' }, 'bench');
  repo.push();
  const a = await pollUntil(() => assign, 'a unit');
  const workspace = join(home.dir, 'ws');
  mkdirSync(workspace);
  const fd = openSync(join(workspace, 'big.bin'), 'w');
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < SIZE_MB; i++) { block.fill(i & 0xff, 0, 64); writeSync(fd, block); }
  closeSync(fd);
  const pid = server.child.pid!;
  const transfer = { server: server.url, unit: a.unit, token: a.unitToken!, log: () => undefined };
  const before = peakKb(pid);
  let t = performance.now();
  const up = await uploadArtifacts(workspace, ['big.bin'], transfer);
  const upMs = performance.now() - t;
  if (up.error) throw new Error(up.error);
  const afterUpload = peakKb(pid);
  const list = await (await fetch(`${server.url}/api/builds/${a.build}/artifacts`)).json() as { path: string; size: number; sha256: string; id: number }[];
  const refs = list.map((x) => ({ path: x.path, size: x.size, sha256: x.sha256, url: `/api/artifacts/${x.id}/download` }));
  const next = join(home.dir, 'next');
  mkdirSync(next);
  t = performance.now();
  await downloadArtifacts(next, refs, transfer);
  const downMs = performance.now() - t;
  const after = peakKb(pid);
  const mbps = (ms: number) => (SIZE_MB * 1.048576 / (ms / 1000)).toFixed(0);
  console.log(`artifact of ${SIZE_MB} MiB over loopback (runner/artifacts.ts ⇄ greengate serve):`);
  console.log(`  upload   ${upMs.toFixed(0)} ms  ${mbps(upMs)} MB/s   (target ≥ 200 MB/s)`);
  console.log(`  download ${downMs.toFixed(0)} ms  ${mbps(downMs)} MB/s   (target ≥ 200 MB/s, sha256 checked)`);
  console.log(`  server peak RSS (VmHWM) ${(before / 1024).toFixed(1)} MB → ${(afterUpload / 1024).toFixed(1)} MB after the upload → ` +
    `${(after / 1024).toFixed(1)} MB after the download: +${((after - before) / 1024).toFixed(1)} MB   (target < 20 MB)`);
  ws.close();
  writeFileSync(join(home.dir, 'done'), '');
} finally {
  await server.kill();
  home.cleanup();
}
