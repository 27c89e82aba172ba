import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredWrites {
  /** Looks once more, then gives how many times each stored file was written while watched. */
  counts(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Watches an image store's folder (`<dir>/<two characters>/<key>`) and tells apart each write of a file. The
 * store writes a new file and renames it into place, so a file written again has another inode (and
 * modification time) under the same name, though the name and the count of files stay the same. Sampled every
 * `intervalMs`: two writes of one name within one interval would be seen as one.
 */
export function watchStoredWrites(directory: string, intervalMs = 25): StoredWrites {
  const versions = new Map<string, Set<string>>();
  const look = async () => {
    const folders = await readdir(directory).catch((error: unknown) => {
      if (missing(error)) return [];
      throw error;
    });
    for (const folder of folders) {
      const names = await readdir(join(directory, folder)).catch(() => []);
      for (const name of names) {
        if (name.endsWith('.tmp')) continue;
        const info = await stat(join(directory, folder, name), { bigint: true }).catch((error: unknown) => {
          if (missing(error)) return undefined;
          throw error;
        });
        if (!info) continue;
        const seen = versions.get(name) ?? new Set<string>();
        seen.add(`${info.ino}:${info.mtimeNs}`);
        versions.set(name, seen);
      }
    }
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let looking: Promise<void> = Promise.resolve();
  let failure: unknown;
  const next = () => {
    looking = look()
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(next, intervalMs);
      });
  };
  next();
  return {
    async counts() {
      await looking;
      await look();
      if (failure) throw failure;
      return new Map([...versions].map(([name, seen]) => [name, seen.size]));
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await looking;
    },
  };
}
