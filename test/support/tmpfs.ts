import { execFile } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MountedTmpfs {
  readonly directory: string;
  /** Writes a file of zeros until the file system is full (the filler), and returns its path. */
  fill(name?: string): Promise<string>;
  /** Unmounts it and removes the mount point; safe to call twice. */
  unmount(): Promise<void>;
}

/**
 * A small tmpfs of its own, for a storage folder that can be filled for real. Needs root (`mount -t tmpfs`);
 * when mounting fails, the error says so rather than letting the test pass without the disk it needs.
 */
export async function mountTmpfs(sizeBytes: number): Promise<MountedTmpfs> {
  const directory = await mkdtemp(join(tmpdir(), 'image-service-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', directory]);
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw new Error(
      `could not mount a ${sizeBytes}-byte tmpfs at ${directory} (this test needs root and mount -t tmpfs): ${(error as Error).message}`,
    );
  }
  let mounted = true;
  return {
    directory,
    async fill(name = 'filler') {
      const path = join(directory, name);
      const file = await open(path, 'w');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        // A write that no longer fits is cut short; the next one meets ENOSPC.
        for (;;) {
          try {
            await file.write(chunk);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw error;
          }
        }
      } finally {
        await file.close();
      }
      return path;
    },
    async unmount() {
      if (!mounted) return;
      // A program that still holds a file open keeps the mount busy; lazily detached, it goes when they do.
      await run('umount', [directory]).catch(() => run('umount', ['-l', directory]));
      mounted = false;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
