import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { outputKeyOf } from '@imgsvc/domain';
import { freePort, type LocalObjectStore } from '@imgsvc/local-services';
import { createS3Client, IMAGE_CACHE_CONTROL, type S3StoreSettings } from '@imgsvc/storage';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf } from './support/api.js';
import { startHoldingProxy } from './support/holding-proxy.js';
import { serveFiles, startHttpServer, type TestHttpServer } from './support/http-server.js';
import {
  bucketEnvironment,
  bucketSettings,
  createBucket,
  listObjects,
  startOwnObjectStore,
  testBucket,
} from './support/object-store.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import {
  apiReady,
  type RunningProgram,
  startProgram,
  storageWaits,
  workerReady,
} from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

// The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens.
const IMAGE_HOST = '127.0.0.2';

interface Status {
  status: string;
  counts: Record<string, number>;
}

/** Everything a test started, stopped in reverse order whatever happens. */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function servePhotos(count: number, size: [number, number] = [320, 240]): Promise<TestHttpServer> {
  const photos = new Map<string, { body: Buffer; type: string }>();
  for (let index = 0; index < count; index += 1) {
    photos.set(`/p${index}.jpg`, {
      body: await photoLikeJpeg(size[0], size[1], 100 + index),
      type: 'image/jpeg',
    });
  }
  const server = await startHttpServer(serveFiles(photos), IMAGE_HOST);
  cleanups.push(() => server.close());
  return server;
}

async function scratchFolder(name: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `${name}-`));
  cleanups.push(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

/** Everything under a folder (it may not exist: nothing was ever written there). */
async function filesUnder(folder: string): Promise<string[]> {
  return readdir(folder, { recursive: true }).catch(() => []);
}

function start(program: 'api' | 'worker', environment: Record<string, string>): RunningProgram {
  const running = startProgram(program, environment);
  cleanups.push(() => running.stop('SIGKILL'));
  return running;
}

async function upload(apiUrl: string, rows: string[]): Promise<string> {
  const answer = await fetch(`${apiUrl}/api/upload`, {
    method: 'POST',
    body: csvForm([CSV_HEADER, ...rows].join('\n')),
  });
  expect(answer.status).toBe(202);
  return ((await answer.json()) as { request_id: string }).request_id;
}

async function finished(apiUrl: string, id: string, timeoutMs = 60_000): Promise<Status> {
  return pollUntil(
    async () => {
      const current = (await (await fetch(`${apiUrl}/api/status/${id}`)).json()) as Status;
      return current.status === 'completed' || current.status === 'failed' ? current : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `request ${id} finished` },
  );
}

/** The output URLs of a finished request, from its result CSV, in order. */
async function outputUrls(apiUrl: string, id: string): Promise<string[]> {
  const csv = await (await fetch(`${apiUrl}/api/download/${id}`)).text();
  const rows = parse(csv, { columns: true }) as Record<string, string>[];
  return rows.flatMap((row) => (row['Output Image Urls'] ?? '').split(',').map((url) => url.trim()));
}

async function objectBytes(settings: S3StoreSettings, key: string): Promise<Buffer> {
  const client = createS3Client(settings);
  try {
    const object = await client.send(
      new GetObjectCommand({ Bucket: settings.bucket, Key: `${settings.prefix}${key}` }),
    );
    return Buffer.from(await (object.Body?.transformToByteArray() ?? new Uint8Array()));
  } finally {
    client.destroy();
  }
}

describe('outputs in an S3-compatible bucket (SeaweedFS)', () => {
  it('serves every output from the bucket when the API and the worker have different STORAGE_DIRs, and a repeated upload finds its outputs there', async () => {
    const images = await servePhotos(12);
    const bucket = await testBucket('two-hosts', 'catalogue/');
    const [apiDir, workerDir] = [await scratchFolder('api-storage'), await scratchFolder('worker-storage')];
    const port = await freePort();
    const metricsPort = await freePort();
    const shared = {
      MONGO_URL: testMongoUrl('object_storage'),
      REDIS_URL: await testRedisUrl(),
      HOST: '127.0.0.1',
      PORT: String(port),
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      ...bucketEnvironment(bucket),
    };
    const worker = start('worker', {
      ...shared,
      STORAGE_DIR: join(workerDir, 'images'),
      WORKER_METRICS_PORT: String(metricsPort),
    });
    const api = start('api', { ...shared, STORAGE_DIR: join(apiDir, 'images') });
    const apiUrl = `http://127.0.0.1:${port}`;
    await apiReady(apiUrl, api);
    await workerReady(worker);

    const rows = Array.from(
      { length: 6 },
      (_, row) =>
        `${row + 1},Product ${row + 1},"${images.url}/p${2 * row}.jpg,${images.url}/p${2 * row + 1}.jpg"`,
    );
    const first = await upload(apiUrl, rows);
    expect(await finished(apiUrl, first)).toMatchObject({
      status: 'completed',
      counts: { images: 12, images_succeeded: 12, images_failed: 0 },
    });
    const urls = await outputUrls(apiUrl, first);
    expect(urls).toHaveLength(12);
    for (const url of urls) {
      expect(url.startsWith(`${apiUrl}/images/`)).toBe(true);
      const answer = await fetch(url);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('image/jpeg');
      expect(answer.headers.get('cache-control')).toBe(IMAGE_CACHE_CONTROL);
      const key = outputKeyOf(url) ?? '';
      expect(answer.headers.get('etag')).toBe(`"${key.slice(0, 64)}"`);
      const bytes = Buffer.from(await answer.arrayBuffer());
      expect(bytes.equals(await objectBytes(bucket, key))).toBe(true);
      expect((await sharp(bytes).metadata()).format).toBe('jpeg');
      const again = await fetch(url, { headers: { 'if-none-match': `"${key.slice(0, 64)}"` } });
      expect(again.status).toBe(304);
    }
    const stored = await listObjects(bucket);
    expect(stored.map((object) => object.key).sort()).toEqual(
      urls.map((url) => `catalogue/${outputKeyOf(url)}`).sort(),
    );
    expect(await filesUnder(apiDir)).toEqual([]);
    expect(await filesUnder(workerDir)).toEqual([]);

    // The same file again: every output is found in the bucket, nothing is written.
    const bytesOut = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return Number(
        /^imgsvc_image_bytes_total\{[^}]*direction="out"[^}]*\} (\d+)$/m.exec(metrics)?.[1] ?? Number.NaN,
      );
    };
    const written = await bytesOut();
    expect(written).toBeGreaterThan(0);
    const second = await upload(apiUrl, rows);
    expect(await finished(apiUrl, second)).toMatchObject({
      status: 'completed',
      counts: { images: 12, images_succeeded: 12, images_failed: 0 },
    });
    expect(await outputUrls(apiUrl, second)).toEqual(urls);
    expect(await bytesOut()).toBe(written);
    expect(await listObjects(bucket)).toEqual(stored);
    expect(await filesUnder(apiDir)).toEqual([]);
    expect(await filesUnder(workerDir)).toEqual([]);
    const missing = await fetch(`${apiUrl}/images/${'0'.repeat(64)}.jpg`);
    expect(missing.status).toBe(404);
  }, 120_000);

  it('keeps a request waiting while the store is stopped, says so in readiness, and completes once it is back', async () => {
    const images = await servePhotos(4);
    const storeDir = await scratchFolder('seaweedfs-outage');
    let store: LocalObjectStore = await startOwnObjectStore(storeDir);
    cleanups.push(() => store.stop());
    const settings = bucketSettings(store, 'outage');
    await createBucket(settings);
    const port = await freePort();
    const environment = {
      MONGO_URL: testMongoUrl('object_storage_outage'),
      REDIS_URL: await testRedisUrl(),
      HOST: '127.0.0.1',
      PORT: String(port),
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      STORAGE_DIR: join(storeDir, 'unused'),
      ...bucketEnvironment({ ...settings, requestTimeoutMs: 2000 }),
    };
    const worker = start('worker', environment);
    const api = start('api', environment);
    const apiUrl = `http://127.0.0.1:${port}`;
    await apiReady(apiUrl, api);
    await workerReady(worker);

    await store.stop();
    const id = await upload(
      apiUrl,
      [0, 1, 2, 3].map((index) => `${index + 1},Product ${index + 1},${images.url}/p${index}.jpg`),
    );
    const waits = () => storageWaits(worker, id);
    await pollUntil(
      async () => {
        if (waits().length >= 4) return true;
        const current = (await (await fetch(`${apiUrl}/api/status/${id}`)).json()) as Status;
        return current.status === 'completed' || current.status === 'failed' ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the product jobs waiting for the store' },
    );
    expect(waits().some((line) => line.includes('storage_unreachable'))).toBe(true);
    expect(await (await fetch(`${apiUrl}/api/status/${id}`)).json()).toMatchObject({
      status: 'in_progress',
      counts: { products: 4, products_done: 0, images_failed: 0 },
    });
    const unready = await pollUntil(
      async () => {
        const answer = await fetch(`${apiUrl}/health/ready`);
        return answer.status === 503 ? await problemOf(answer) : undefined;
      },
      { timeoutMs: 15_000, what: 'readiness failing for the store' },
    );
    expect(unready).toMatchObject({
      code: 'not_ready',
      checks: { mongodb: 'ok', redis: 'ok', storage: expect.stringMatching(/^the storage does not answer/) },
    });

    // The store comes back where it was, with its data.
    store = await startOwnObjectStore(storeDir, {
      ports: store.ports,
      accessKeyId: store.accessKeyId,
      secretAccessKey: store.secretAccessKey,
    });
    const done = await finished(apiUrl, id, 90_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${worker.output().split('\n').slice(-15).join('\n')}`);
    });
    expect(done).toMatchObject({
      status: 'completed',
      counts: { products: 4, products_done: 4, images: 4, images_succeeded: 4, images_failed: 0 },
    });
    for (const url of await outputUrls(apiUrl, id)) expect((await fetch(url)).status).toBe(200);
    await pollUntil(async () => ((await fetch(`${apiUrl}/health/ready`)).ok ? true : undefined), {
      timeoutMs: 15_000,
      what: 'readiness back with the store',
    });
    expect(worker.output()).not.toContain('job attempt failed');
  }, 180_000);

  it('leaves no partial object when a worker is killed (SIGKILL) in the middle of an upload to the store', async () => {
    // Large enough that its compressed output takes many packets.
    const images = await servePhotos(1, [2000, 1500]);
    const bucket = await testBucket('killed-upload');
    const storePort = Number(new URL(bucket.endpoint ?? '').port);
    // The worker reaches the store through a proxy that lets its first PUT through halfway, then holds it.
    const proxy = await startHoldingProxy(storePort, 16 * 1024);
    cleanups.push(() => proxy.close());
    const port = await freePort();
    const environment = {
      MONGO_URL: testMongoUrl('object_storage_kill'),
      REDIS_URL: await testRedisUrl(),
      HOST: '127.0.0.1',
      PORT: String(port),
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      STORAGE_DIR: join(await scratchFolder('kill-storage'), 'images'),
      // A short lock: the killed worker's job is found stalled soon after.
      JOB_LOCK_MS: '2000',
      JOB_STALLED_INTERVAL_MS: '1000',
      ...bucketEnvironment(bucket),
    };
    const api = start('api', environment);
    const apiUrl = `http://127.0.0.1:${port}`;
    await apiReady(apiUrl, api);
    const doomed = start('worker', { ...environment, S3_ENDPOINT: proxy.url });
    await workerReady(doomed);

    const id = await upload(apiUrl, [`1,Big photo,${images.url}/p0.jpg`]);
    const held = await pollUntil(async () => proxy.held(), {
      timeoutMs: 30_000,
      what: 'the worker caught in the middle of its upload',
    });
    const heldKey = new URL(held.path, 'http://store').pathname.split('/').pop() ?? '';
    await doomed.stop('SIGKILL');
    // The store sees the upload cut short once the dead worker's connection is closed on its side.
    await pollUntil(async () => (proxy.heldConnectionClosed() ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the cut upload closed on the store side',
    });

    // Nothing of the cut upload becomes visible: no object under its key, nothing at all in the bucket, looked
    // at for a while after the cut (a store that kept partial uploads would show one at once).
    const client = createS3Client(bucket);
    cleanups.push(async () => client.destroy());
    const watchUntil = Date.now() + 1500;
    do {
      await expect(
        client.send(new HeadObjectCommand({ Bucket: bucket.bucket, Key: heldKey })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
      expect(await listObjects(bucket)).toEqual([]);
    } while (Date.now() < watchUntil);

    // Another worker takes the job over and stores the image whole.
    const worker = start('worker', environment);
    await workerReady(worker);
    expect(await finished(apiUrl, id, 90_000)).toMatchObject({
      status: 'completed',
      counts: { images: 1, images_succeeded: 1, images_failed: 0 },
    });
    const [url] = await outputUrls(apiUrl, id);
    expect(outputKeyOf(url ?? '')).toBe(heldKey);
    const bytes = Buffer.from(await (await fetch(url ?? '')).arrayBuffer());
    expect(bytes.length).toBeGreaterThan(held.forwardedBodyBytes);
    expect(await listObjects(bucket)).toEqual([{ key: heldKey, size: bytes.length }]);
    const decoded = await sharp(bytes).metadata();
    expect([decoded.format, decoded.width, decoded.height]).toEqual(['jpeg', 2000, 1500]);
  }, 180_000);
});
