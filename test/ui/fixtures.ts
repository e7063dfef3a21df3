/**
 * Fixtures for the ui tests: headless Chromium (/usr/bin/chromium) with one context and page,
 * a form POST the way the browser sends one (redirects not followed, an optional session cookie),
 * and a server with a real deploy that its (stubbed) watcher rolled back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { parseConfig } from '../../server/config/config.js';
import { startServer, type RunningServer } from '../../server/main.js';
import type { DeployHooks } from '../../server/deploy/hooks.js';
import { ADMIN_TOKEN, CLI, RUNNER_TOKEN, Repo, gitEnv, pollUntil } from '../helpers.js';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches headless Chromium and opens one context and one page in it; close `browser` when done. */
export async function openBrowser(): Promise<{ browser: Browser; context: BrowserContext; page: Page }> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const context = await browser.newContext();
  return { browser, context, page: await context.newPage() };
}

/** POSTs a urlencoded form to `base + path` without following a redirect; `cookie` is sent when given. */
export function postForm(base: string, path: string, form: Record<string, string>, cookie = ''): Promise<Response> {
  return fetch(base + path, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
  });
}

/**
 * An in-process server for repository "shop" (gated on main, builder `unit: true`) whose main
 * deploys through `stages` (each `echo` steps, run by a real runner process), a push, and the id of
 * its deploy once the stubbed `watch` has rolled it back. Stop `runner` and `server` when done.
 */
export async function rolledBackDeploy(home: string, repo: Repo, stages: Record<string, unknown>[], watch: DeployHooks['watch']):
  Promise<{ server: RunningServer; runner: ChildProcess; deployId: number }> {
  const config = parseConfig(stringify({
    port: 0, data: join(home, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
    repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }], deploy: { main: { stages } } }],
  }), { baseDir: home });
  const server = await startServer({ config, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }), deployHooks: { watch } });
  const runner = spawn(process.execPath, [CLI, 'runner', '--server', server.url, '--name', 'r1', '--slots', '1', '--work', join(home, 'r1')],
    { env: gitEnv({ GREENGATE_RUNNER_TOKEN: RUNNER_TOKEN }), stdio: 'ignore' });
  await pollUntil(() => server.connectedRunners().length === 1, 'the runner to connect');
  const sha = repo.commit({ 'a.txt': 'a' }, 'raises the error rate');
  repo.push();
  const deployId = await pollUntil(async () => {
    const list = await (await fetch(`${server.url}/api/deploys`)).json() as { deploys: { id: number; sha: string; state: string }[] };
    return list.deploys.find((d) => d.sha === sha && d.state === 'rolled_back')?.id;
  }, 'the deploy to be rolled back', 60_000, 100);
  return { server, runner, deployId };
}
