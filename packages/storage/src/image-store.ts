import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, mkdir, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { asStorageFault, StorageUnavailable } from './storage-faults.js';

/** A stored image's name: the hex SHA-256 of what it was made from, and its file extension. */
const KEY_PATTERN = /^[0-9a-f]{64}\.(jpg|png|webp|avif|gif)$/;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
};

export interface StoredImage {
  readonly size: number;
  readonly contentType: string;
  readonly stream: Readable;
}

export interface StorageSpace {
  /** Bytes an ordinary process may still write, less what this store wrote since it last looked. */
  readonly freeBytes: number;
  /** The floor below which nothing is written (STORAGE_MIN_FREE_BYTES). */
  readonly minFreeBytes: number;
}

export interface ImageStoreOptions {
  /** Free space below which the store writes nothing (STORAGE_MIN_FREE_BYTES); 0: only a full disk stops it. */
  readonly minFreeBytes?: number;
  /** How long one look at the file system is trusted, so that it is not asked once per image. */
  readonly spaceCheckMs?: number;
}

export interface ImageStore {
  readonly directory: string;
  has(key: string): Promise<boolean>;
  /**
   * Writes the image whole or not at all; writing a key again leaves the same file. Throws StorageUnavailable
   * when the storage cannot take it (below the floor, full, read-only, gone or not answering).
   */
  put(key: string, data: Uint8Array): Promise<void>;
  /** The folder's free space; throws StorageUnavailable when it cannot be written at all. */
  space(): Promise<StorageSpace>;
  /** Throws StorageUnavailable unless an image may be written now: a check before work is spent on one. */
  checkWritable(): Promise<StorageSpace>;
  /** The image for a key, or undefined when the key is malformed or nothing is stored under it. */
  open(key: string): Promise<StoredImage | undefined>;
}

/** Names an output by its inputs: the same source bytes and settings always give the same key. */
export function contentKey(parts: readonly (string | Uint8Array)[], extension: string): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(part);
    hash.update('\0');
  }
  const key = `${hash.digest('hex')}.${extension}`;
  if (!KEY_PATTERN.test(key)) throw new Error(`unsupported image extension "${extension}"`);
  return key;
}

export function isImageKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

const SPACE_CHECK_MS = 1000;

/**
 * Images on the local disk, spread over 256 folders by the first two characters of their key. The folder is
 * made the first time the store is used; if it goes away later (a volume that came off), the store reports
 * the storage missing rather than making it again on whatever disk is beneath.
 */
export function createImageStore(directory: string, options: ImageStoreOptions = {}): ImageStore {
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

  return {
    directory,
    space,
    checkWritable,
    async has(key) {
      if (!isImageKey(key)) return false;
      try {
        return (await stat(pathOf(key))).isFile();
      } catch {
        return false;
      }
    },
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
        const extension = key.slice(key.lastIndexOf('.') + 1);
        return {
          size: info.size,
          contentType: CONTENT_TYPES[extension] ?? 'application/octet-stream',
          stream: createReadStream(path),
        };
      } catch {
        return undefined;
      }
    },
  };
}
