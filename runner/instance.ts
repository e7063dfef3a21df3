/**
 * The runner's instance id: random, created once in its work directory (file `instance-id`,
 * mode 0600) and sent with every hello. Two processes using the same work directory are the
 * same runner; another process claiming this runner's name with another id is refused.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../server/protocol.js';

export const INSTANCE_FILE = 'instance-id';
const ID_RE = /^[0-9a-f]{32}$/;

export function loadInstanceId(workDir: string): string {
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const file = join(workDir, INSTANCE_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (ID_RE.test(id)) return id;
      fail('GG_RUNNER_INSTANCE', `${file} does not hold a runner instance id (32 hex characters) — delete it and start the runner again`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      writeFileSync(file, randomBytes(16).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
      chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another process made it first: read theirs
    }
  }
  fail('GG_RUNNER_INSTANCE', `cannot create the runner instance id in ${file}`);
}
