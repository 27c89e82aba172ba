import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

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

export interface ImageStore {
  readonly directory: string;
  has(key: string): Promise<boolean>;
  /** Writes the image whole or not at all; writing a key again leaves the same file. */
  put(key: string, data: Uint8Array): Promise<void>;
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

/** Images on the local disk, spread over 256 folders by the first two characters of their key. */
export function createImageStore(directory: string): ImageStore {
  const pathOf = (key: string) => join(directory, key.slice(0, 2), key);
  return {
    directory,
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
      const target = pathOf(key);
      // Write beside the target, then rename: readers never see half a file, and a rerun replaces it atomically.
      const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        try {
          await writeFile(temporary, data);
        } catch (error) {
          // The folder is made the first time one of its images is written (or after it was removed).
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          await mkdir(join(directory, key.slice(0, 2)), { recursive: true });
          await writeFile(temporary, data);
        }
        await rename(temporary, target);
      } catch (error) {
        await unlink(temporary).catch(() => {});
        throw error;
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
