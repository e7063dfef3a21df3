/**
 * Fixtures for the ui tests: headless Chromium (/usr/bin/chromium) with one context and page,
 * and a form POST the way the browser sends one (redirects not followed, an optional session cookie).
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

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
