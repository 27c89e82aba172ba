import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MountedTmpfs, mountTmpfs } from '../../../test/support/tmpfs.js';
import { createDiskImageStore, type DiskImageStore } from './disk-store.js';
import { contentKey, isImageKey } from './image-keys.js';
import { isStorageUnavailable, type StorageFaultCode, StorageUnavailable } from './storage-faults.js';

let directory: string;
let store: DiskImageStore;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'image-store-'));
  store = createDiskImageStore(directory);
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('image store', () => {
  it('names content by a hash of what made it', () => {
    const key = contentKey(['settings', Buffer.from('bytes')], 'jpg');
    expect(key).toMatch(/^[0-9a-f]{64}\.jpg$/);
    expect(contentKey(['settings', Buffer.from('bytes')], 'jpg')).toBe(key);
    expect(contentKey(['other settings', Buffer.from('bytes')], 'jpg')).not.toBe(key);
    expect(() => contentKey(['x'], 'exe')).toThrow();
  });

  it('writes, finds and reads back an image, and a second write leaves one whole file', async () => {
    const key = contentKey(['one'], 'png');
    expect(await store.has(key)).toBe(false);
    await store.put(key, Buffer.from('first'));
    await store.put(key, Buffer.from('first'));
    expect(await store.has(key)).toBe(true);
    const image = await store.open(key);
    if (!image) throw new Error('the stored image was not found');
    expect(image.contentType).toBe('image/png');
    expect(image.size).toBe(5);
    expect((await buffer(image.stream)).toString()).toBe('first');
    expect(await readdir(join(directory, key.slice(0, 2)))).toEqual([key]);
  });

  it('refuses keys that could leave its folder', async () => {
    for (const key of ['../x.jpg', `${'a'.repeat(64)}.sh`, 'A'.repeat(64).concat('.jpg'), '']) {
      expect(isImageKey(key)).toBe(false);
      expect(await store.open(key)).toBeUndefined();
    }
    await expect(store.put('../escape.jpg', Buffer.from('x'))).rejects.toThrow('invalid image key');
  });
});

/** Resolves with the StorageUnavailable's code the promise rejected with; fails the test on anything else. */
async function faultOf(promise: Promise<unknown>): Promise<StorageFaultCode> {
  const error = await promise.then(
    () => {
      throw new Error('the storage took the write');
    },
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof StorageUnavailable)) throw error;
  expect(isStorageUnavailable(error)).toBe(true);
  return error.code;
}

describe('image store on a storage that runs out or goes away', () => {
  const mounts: MountedTmpfs[] = [];
  const image = Buffer.alloc(64 * 1024, 7);
  const key = contentKey(['a photo'], 'jpg');
  const mount = async (sizeBytes: number) => {
    const tmpfs = await mountTmpfs(sizeBytes);
    mounts.push(tmpfs);
    return tmpfs;
  };
  const leftovers = async (directory: string) =>
    (await readdir(directory, { recursive: true })).filter((name) => name.endsWith('.tmp'));

  afterEach(async () => {
    await Promise.all(mounts.splice(0).map((tmpfs) => tmpfs.unmount()));
  });

  it('refuses to write below the free-space floor, before the disk is full, and writes once space is back', async () => {
    const tmpfs = await mount(1024 * 1024);
    const store = createDiskImageStore(tmpfs.directory, { minFreeBytes: 512 * 1024, spaceCheckMs: 0 });
    const filler = join(tmpfs.directory, 'filler');
    await writeFile(filler, Buffer.alloc(768 * 1024));

    expect(await faultOf(store.checkWritable())).toBe('storage_low_space');
    expect(await faultOf(store.put(key, image))).toBe('storage_low_space');
    expect(await store.has(key)).toBe(false);
    expect((await store.space()).freeBytes).toBeLessThan(512 * 1024);

    await rm(filler);
    await store.put(key, image);
    expect(await store.has(key)).toBe(true);
  });

  it('turns a full disk (ENOSPC) into StorageUnavailable, leaves no partial file, and knows the disk is full from then on', async () => {
    const tmpfs = await mount(1024 * 1024);
    // A sample of the free space trusted for a minute: only the failed write can make the store look again.
    const store = createDiskImageStore(tmpfs.directory, { minFreeBytes: 0, spaceCheckMs: 60_000 });
    expect((await store.checkWritable()).freeBytes).toBeGreaterThan(512 * 1024);
    const filler = await tmpfs.fill();
    // The store does not ask the file system for every image: the earlier sample still stands.
    await store.checkWritable();

    expect(await faultOf(store.put(key, image))).toBe('storage_full');
    expect(await leftovers(tmpfs.directory)).toEqual([]);
    // The failed write made the store look again: it now knows the disk is full, before any other write.
    expect((await store.space()).freeBytes).toBe(0);
    expect(await faultOf(store.checkWritable())).toBe('storage_full');
    await rm(filler);
  });

  it('refuses writes on a read-only storage (EROFS) with StorageUnavailable, and still finds what it holds', async () => {
    const tmpfs = await mount(1024 * 1024);
    const store = createDiskImageStore(tmpfs.directory, { spaceCheckMs: 0 });
    await store.put(key, image);
    await promisify(execFile)('mount', ['-o', 'remount,ro', tmpfs.directory]);

    expect(await faultOf(store.checkWritable())).toBe('storage_read_only');
    expect(await faultOf(store.put(contentKey(['another photo'], 'jpg'), image))).toBe('storage_read_only');
    expect(await store.has(key)).toBe(true);
  });

  it('reports its folder missing when it goes away after first use, rather than making it again', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'image-store-gone-'));
    try {
      const directory = join(parent, 'images');
      const store = createDiskImageStore(directory, { spaceCheckMs: 0 });
      await store.put(key, image);
      await rm(directory, { recursive: true });

      expect(await faultOf(store.put(contentKey(['another photo'], 'jpg'), image))).toBe('storage_missing');
      await expect(stat(directory)).rejects.toThrow('ENOENT');
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
