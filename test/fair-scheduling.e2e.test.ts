import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

// Two image hosts stand in for public ones: a slow one on 127.0.0.2 and a quick one on 127.0.0.3, the two
// addresses FETCH_ALLOW_NETWORKS opens.
const SLOW_HOST = '127.0.0.2';
const QUICK_HOST = '127.0.0.3';
const BACKLOG = 40;
/** How long the slow host takes to drip out each image: the backlog alone is 40 × 3 s of downloads. */
const DRIP_MS = 3000;
const KEY_A = 'tenant-a-key-0123456789abcdef';
const KEY_B = 'tenant-b-key-0123456789abcdef';

interface Status {
  status: string;
  counts: { images_succeeded: number };
}

describe('fair scheduling between tenants', () => {
  let slow: TestHttpServer;
  let quick: TestHttpServer;
  let service: RunningService;
  let storageDir: string;
  /** Downloads from the slow host under way now, and the most there ever were. */
  const slowDownloads = { now: 0, most: 0 };

  beforeAll(async () => {
    const photo = await photoLikeJpeg(320, 240, 11);
    const half = Math.floor(photo.length / 2);
    // The slow host sends half the image at once and the rest once DRIP_MS have passed, as a host that drips
    // bytes does: the download holds its product's slot the whole time, within FETCH_TIMEOUT_MS.
    slow = await startHttpServer((_request, response) => {
      slowDownloads.now += 1;
      slowDownloads.most = Math.max(slowDownloads.most, slowDownloads.now);
      response.on('close', () => {
        slowDownloads.now -= 1;
      });
      response.setHeader('content-type', 'image/jpeg');
      response.setHeader('content-length', photo.length);
      response.write(photo.subarray(0, half));
      const timer = setTimeout(() => response.end(photo.subarray(half)), DRIP_MS);
      response.on('close', () => clearTimeout(timer));
    }, SLOW_HOST);
    quick = await startHttpServer((_request, response) => {
      response.setHeader('content-type', 'image/jpeg');
      response.end(photo);
    }, QUICK_HOST);
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-fairness-'));
    service = await startService({
      MONGO_URL: testMongoUrl('fair_scheduling'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_NETWORKS: `${SLOW_HOST}/32,${QUICK_HOST}/32`,
      API_KEYS: `${KEY_A},${KEY_B}`,
      WORKER_CONCURRENCY: '4',
    });
  });
  afterAll(async () => {
    await service?.stop();
    await Promise.all([slow?.close(), quick?.close()]);
    if (storageDir) await rm(storageDir, { recursive: true, force: true });
  });

  const upload = async (key: string, rows: string[]) => {
    const response = await fetch(`${service.apiUrl}/api/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: csvForm(['S. No.,Product Name,Input Image Urls', ...rows].join('\n')),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { request_id: string }).request_id;
  };

  it("finishes one tenant's single image within seconds behind another tenant's slow backlog", async () => {
    const backlog = Array.from(
      { length: BACKLOG },
      (_, index) => `${index + 1},Slow ${index + 1},${slow.url}/slow-${index}.jpg`,
    );
    const backlogId = await upload(KEY_A, backlog);
    // The backlog holds every slot it may: downloads from the slow host are under way.
    await pollUntil(async () => (slow.hits.length >= 3 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: 'the backlog downloading',
    });

    const started = Date.now();
    const id = await upload(KEY_B, [`1,Quick,${quick.url}/quick.jpg`]);
    const finished = await pollUntil(
      async () => {
        const response = await fetch(`${service.apiUrl}/api/status/${id}`, {
          headers: { authorization: `Bearer ${KEY_B}` },
        });
        const status = (await response.json()) as Status;
        return status.status === 'completed' ? status : undefined;
      },
      // In arrival order, the image would wait for the backlog: about 40 × 3 s / 4 slots = 30 s.
      { timeoutMs: 20_000, intervalMs: 50, what: "tenant B's request completed" },
    );
    const waitedMs = Date.now() - started;
    console.log(`fairness: one image behind a ${BACKLOG}-product slow backlog completed in ${waitedMs} ms`);
    expect(finished.counts.images_succeeded).toBe(1);
    expect(waitedMs).toBeLessThan(6000);

    // The backlog is still under way: it was not finished first, and is not failed either.
    const backlogStatus = (await (
      await fetch(`${service.apiUrl}/api/status/${backlogId}`, {
        headers: { authorization: `Bearer ${KEY_A}` },
      })
    ).json()) as Status;
    expect(backlogStatus.status).toBe('in_progress');
    // The backlog never held more than its share: three of the worker's four slots (WORKER_CONCURRENCY_PER_KEY's
    // default), although the slow host would take four downloads at once (FETCH_CONCURRENCY_PER_HOST).
    expect(slowDownloads.most).toBe(3);
  });
});
