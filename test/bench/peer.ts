/**
 * Runs the Buildbot peer harness (../shared/peers/buildbot: setup.sh, bench.sh, teardown.sh) in
 * this same run and picks out the figures that match ours. The harness installs Debian's
 * buildbot when it is missing and uses ports 8010 and 9989 on 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';

export interface PeerFigures {
  startMs: number; finishMs: number; buildsPerS: number; logS: number; apiMs: number; rssMb: number; shardedS: number; raw: unknown;
}

export async function runBuildbotPeer(dir: string): Promise<any> {
  const run = (script: string, timeoutS: number) => {
    const r = spawnSync('bash', [script], { cwd: dir, encoding: 'utf8', timeout: timeoutS * 1000, stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${script} exited ${r.status ?? r.signal}`);
    return r.stdout;
  };
  try {
    run('./setup.sh', 600);
    const out = run('./bench.sh', 1800);
    const start = out.indexOf('{');
    return JSON.parse(out.slice(start));
  } finally {
    spawnSync('bash', ['./teardown.sh'], { cwd: dir, stdio: 'inherit', timeout: 120_000 });
  }
}

export function peerFigures(r: any): PeerFigures {
  const ms = (s: number) => Math.round(s * 10000) / 10;
  return {
    startMs: ms(r.latency_trivial.commit_to_start_s.median),
    finishMs: ms(r.latency_trivial.commit_to_finish_s.median),
    buildsPerS: Math.round(r.throughput.no_collapse_trivial_nc.builds_per_s * 100) / 100,
    logS: r.log_ingest.build_start_to_finish_s,
    apiMs: ms(r.api_builds_limit_200.keepalive_s.median),
    rssMb: r.master_memory.peak_rss_vmhwm_mb,
    shardedS: r.sharded.commit_to_finish_s,
    raw: r,
  };
}
