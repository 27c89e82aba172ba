import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentKey, createImageStore, type ImageStore, isImageKey } from './image-store.js';

let directory: string;
let store: ImageStore;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'image-store-'));
  store = createImageStore(directory);
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
