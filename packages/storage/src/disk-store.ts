import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, mkdir, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentTypeOf, isImageKey } from './image-keys.js';
import type { ImageStore, StorageSpace } from './image-store.js';
import { asStorageFault, StorageUnavailable } from './storage-faults.js';

const SPACE_CHECK_MS = 1000;

export interface DiskStoreOptions {
  /** Free space below which the store writes nothing (STORAGE_MIN_FREE_BYTES); 0: only a full disk stops it. */
  readonly minFreeBytes?: number;
  /** How long one look at the file system is trusted, so that it is not asked once per image. */
  readonly spaceCheckMs?: number;
}

export interface DiskImageStore extends ImageStore {
  readonly kind: 'disk';
  readonly directory: string;
  space(): Promise<StorageSpace>;
  checkWritable(): Promise<StorageSpace>;
}

/**
 * Images on the local disk, spread over 256 folders by the first two characters of their key. The folder is
 * made the first time the store is used; if it goes away later (a volume that came off), the store reports
 * the storage missing rather than making it again on whatever disk is beneath.
 */
export function createDiskImageStore(directory: string, options: DiskStoreOptions = {}): DiskImageStore {
  const minFreeBytes = options.minFreeBytes ?? 0;
  const spaceCheckMs = options.spaceCheckMs ?? SPACE_CHECK_MS;
  const pathOf = (key: string) => join(directory, key.slice(0, 2), key);
  let folderMade = false;
  let sample: { readonly at: number; readonly freeBytes: Promise<number> } | undefined;
  let writtenSinceSample = 0;

  const readFreeBytes = async (): Promise<number> => {
    try {
      if (!folderMade) {
        await mkdir(directory, { recursive: true });
        folderMade = true;
      }
      // access(W_OK) answers EROFS on a read-only mount and EACCES where this process may not write.
      const [info] = await Promise.all([statfs(directory), access(directory, constants.W_OK)]);
      return info.bavail * info.bsize;
    } catch (error) {
      throw asStorageFault(error);
    }
  };
  const space = async (): Promise<StorageSpace> => {
    const now = Date.now();
    if (!sample || now - sample.at >= spaceCheckMs) {
      sample = { at: now, freeBytes: readFreeBytes() };
      writtenSinceSample = 0;
      // Seen by whoever awaits it; a sample nobody awaits again must not count as unhandled.
      sample.freeBytes.catch(() => {});
    }
    const freeBytes = await sample.freeBytes;
    return { freeBytes: Math.max(0, freeBytes - writtenSinceSample), minFreeBytes };
  };
  const checkWritable = async (): Promise<StorageSpace> => {
    const current = await space();
    if (current.freeBytes === 0) throw new StorageUnavailable('storage_full');
    if (current.freeBytes < minFreeBytes) {
      throw new StorageUnavailable(
        'storage_low_space',
        `${current.freeBytes} bytes free, the floor is ${minFreeBytes}`,
      );
    }
    return current;
  };

  const sizeOf = async (key: string): Promise<number | undefined> => {
    if (!isImageKey(key)) return undefined;
    try {
      const found = await stat(pathOf(key));
      return found.isFile() ? found.size : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    kind: 'disk',
    location: directory,
    directory,
    space,
    checkWritable,
    has: async (key) => (await sizeOf(key)) !== undefined,
    sizeOf,
    async put(key, data) {
      if (!isImageKey(key)) throw new Error(`invalid image key "${key}"`);
      await checkWritable();
      const target = pathOf(key);
      // Write beside the target, then rename: readers never see half a file, and a rerun replaces it atomically.
      const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        try {
          await writeFile(temporary, data);
        } catch (error) {
          // A key's folder is made the first time one of its images is written (or after it was removed);
          // only that folder: when the storage folder itself is gone, mkdir fails and says so.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          await mkdir(join(directory, key.slice(0, 2))).catch((cause: NodeJS.ErrnoException) => {
            if (cause.code !== 'EEXIST') throw cause;
          });
          await writeFile(temporary, data);
        }
        await rename(temporary, target);
        writtenSinceSample += data.length;
      } catch (error) {
        await unlink(temporary).catch(() => {});
        const fault = asStorageFault(error);
        // Look again next time rather than trust a sample the file system has just contradicted.
        if (fault instanceof StorageUnavailable) sample = undefined;
        throw fault;
      }
    },
    async open(key) {
      if (!isImageKey(key)) return undefined;
      const path = pathOf(key);
      try {
        const info = await stat(path);
        if (!info.isFile()) return undefined;
        return {
          size: info.size,
          contentType: contentTypeOf(key),
          stream: createReadStream(path),
        };
      } catch {
        return undefined;
      }
    },
    async remove(key) {
      if (!isImageKey(key)) return;
      await unlink(pathOf(key)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw asStorageFault(error);
      });
    },
    close() {},
  };
}
