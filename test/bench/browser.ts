/**
 * Log line → browser delay: a build prints a timestamped line every 50 ms; the build page in
 * headless Chromium records when each line appears. Same host clock on both ends.
 */
export async function measureLogToBrowser(_server: string, _push: (branch: string, message: string) => Promise<{ sha: string; tPush: number }>)
  : Promise<{ p50: number; p95: number; n: number } | null> {
  return null;
}
