import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { openJobState } from './job-state.js';
import { keys } from './keys.js';

const KEY = `${'ab'.repeat(32)}.jpg`;

describe('what URLs gave in earlier requests, on a real Redis', () => {
  let url: string;
  let redis: Redis;
  beforeAll(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('recalls the output and validators a URL gave, for as long as the encoding settings stay the same', async () => {
    const state = openJobState(redis, { lockMs: 2000, encodingSettings: 'quality=50' });
    await state.rememberSources(
      new Map([
        ['http://127.0.0.1/a.jpg', { key: KEY, etag: '"v1"' }],
        ['http://127.0.0.1/b.jpg', { key: KEY, lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT' }],
      ]),
    );
    const recalled = await state.recallSources([
      'http://127.0.0.1/a.jpg',
      'http://127.0.0.1/b.jpg',
      'http://127.0.0.1/a.jpg',
      'http://127.0.0.1/never-seen.jpg',
    ]);
    expect([...recalled]).toEqual([
      ['http://127.0.0.1/a.jpg', { key: KEY, etag: '"v1"' }],
      ['http://127.0.0.1/b.jpg', { key: KEY, lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT' }],
    ]);
    const ttl = await redis.pttl(keys.imageSource('quality=50', 'http://127.0.0.1/a.jpg'));
    expect(ttl).toBeGreaterThan(6 * 24 * 3600 * 1000);

    const otherSettings = openJobState(redis, { lockMs: 2000, encodingSettings: 'quality=80' });
    expect((await otherSettings.recallSources(['http://127.0.0.1/a.jpg'])).size).toBe(0);
  });

  it('ignores entries it cannot trust: no validators, a key that names no stored image, or not JSON', async () => {
    const state = openJobState(redis, { lockMs: 2000, encodingSettings: 'damaged' });
    const entries = {
      'http://127.0.0.1/no-validators.jpg': JSON.stringify({ key: KEY }),
      'http://127.0.0.1/bad-key.jpg': JSON.stringify({ key: '../../etc/passwd', etag: '"x"' }),
      'http://127.0.0.1/not-json.jpg': '{',
    };
    for (const [url, text] of Object.entries(entries))
      await redis.set(keys.imageSource('damaged', url), text);
    expect((await state.recallSources(Object.keys(entries))).size).toBe(0);
  });

  it('recalls nothing, rather than failing, when Redis cannot be reached', async () => {
    const gone = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    gone.disconnect();
    const state = openJobState(gone, { lockMs: 2000, encodingSettings: 'quality=50' });
    expect((await state.recallSources(['http://127.0.0.1/a.jpg'])).size).toBe(0);
  });
});
