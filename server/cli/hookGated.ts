/**
 * `greengate hook install` asks the server which branches of the repository are gated
 * (GET /api/repos, public), so the hook knows them before its first verdict. Never throws:
 * answers the list, or a sentence saying why it could not.
 */
export const GATED_LOOKUP_TIMEOUT_MS = 5000; // 5 seconds

export async function gatedBranchesOf(server: string, repo: string): Promise<string[] | string> {
  try {
    const res = await fetch(`${server.replace(/\/+$/, '')}/api/repos`, { signal: AbortSignal.timeout(GATED_LOOKUP_TIMEOUT_MS) });
    if (!res.ok) return `the server answered HTTP ${res.status} to GET /api/repos`;
    const repos = await res.json() as { name?: unknown; gate?: unknown }[];
    const mine = Array.isArray(repos) ? repos.find((r) => r?.name === repo) : undefined;
    if (!mine) return `the server at ${server} has no repository "${repo}" in its greengate.yml`;
    if (!Array.isArray(mine.gate) || !mine.gate.every((b) => typeof b === 'string')) return 'the server\'s answer has no gate list';
    return mine.gate as string[];
  } catch (err) {
    return `could not ask ${server} which branches are gated (${(err as Error).message})`;
  }
}
