/**
 * A real small disk for storage-fault tests: a tmpfs mounted at a directory inside a test's
 * temporary home (mounting needs root), filled to the last byte and given back on demand.
 * Always `unmount()` in `after`, once the processes using it have stopped.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class SmallDisk {
  private mounted = false;
  readonly filler: string;

  constructor(readonly dir: string, readonly sizeMb = 16) {
    this.filler = join(dir, 'filler.bin');
  }

  mount(): this {
    mkdirSync(this.dir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${this.sizeMb}m`, 'tmpfs', this.dir], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`cannot mount a ${this.sizeMb} MB tmpfs at ${this.dir} (this test needs root to make a real full disk): `
        + `${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
    }
    this.mounted = true;
    return this;
  }

  /** Writes a file until the disk has no byte left. */
  fill(): void {
    const fd = openSync(this.filler, 'a');
    try {
      for (const size of [1024 * 1024, 64 * 1024, 4096, 1]) {
        const buf = Buffer.alloc(size, 0x5a);
        try {
          for (;;) writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Gives the space back. */
  free(): void {
    rmSync(this.filler, { force: true });
  }

  freeBytes(): number {
    const s = statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  unmount(): void {
    if (!this.mounted) return;
    try {
      execFileSync('umount', [this.dir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' }); // still busy: detach now, freed when the last file closes
    }
    this.mounted = false;
  }
}
