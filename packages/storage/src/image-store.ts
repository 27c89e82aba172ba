import type { Readable } from 'node:stream';

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

/**
 * Where outputs are kept, named by content (`contentKey`). Both backends give the same guarantees: a write is
 * whole or absent, writing a key again leaves the same image, and a storage that cannot take images throws
 * StorageUnavailable (an outage: the job waits) rather than failing the image.
 */
export interface ImageStore {
  /** Which backend, and where: for logs and the worker's metrics (a folder, or s3://bucket/prefix). */
  readonly kind: 'disk' | 's3';
  readonly location: string;
  has(key: string): Promise<boolean>;
  /** The stored image's size in bytes, or undefined when nothing is stored under the key (as `has`). */
  sizeOf(key: string): Promise<number | undefined>;
  /**
   * Writes the image whole or not at all; writing a key again leaves the same image. Throws StorageUnavailable
   * when the storage cannot take it (below the floor, full, read-only, gone, refusing or not answering).
   */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Throws StorageUnavailable unless an image may be written now: a check before work is spent on one. */
  checkWritable(): Promise<unknown>;
  /** The image for a key, or undefined when the key is malformed or nothing is stored under it. */
  open(key: string): Promise<StoredImage | undefined>;
  /** Removes the image under a key; removing one that is not there is no error. */
  remove(key: string): Promise<void>;
  /** The disk's free space (the disk backend only); throws StorageUnavailable when it cannot be written at all. */
  space?(): Promise<StorageSpace>;
  /** Lets go of connections (the S3 backend's sockets). */
  close(): void;
}
