import { connectDatabase } from '@imgsvc/db';
import { outputKeyOf } from '@imgsvc/domain';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf } from './support/api.js';
import { serveFiles, startHttpServer } from './support/http-server.js';
import { bucketEnvironment, listObjects, testBucket } from './support/object-store.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

// The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens.
const IMAGE_HOST = '127.0.0.2';
const KEY = 'del-alice-key';
const OTHER_KEY = 'del-bob-key';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('deleting a request (DELETE /api/requests/{id}) with outputs in a bucket', () => {
  it('removes the request, its products and the outputs no other request lists, and leaves the shared ones serving', async () => {
    const photos = new Map<string, { body: Buffer; type: string }>();
    for (let index = 0; index < 4; index += 1) {
      photos.set(`/p${index}.jpg`, { body: await photoLikeJpeg(200, 150, 300 + index), type: 'image/jpeg' });
    }
    const images = await startHttpServer(serveFiles(photos), IMAGE_HOST);
    const bucket = await testBucket('deletion');
    const mongoUrl = testMongoUrl('deletion');
    const service = await startService({
      MONGO_URL: mongoUrl,
      REDIS_URL: await testRedisUrl(),
      API_KEYS: `${KEY},${OTHER_KEY}`,
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      // The sweep runs in the reconciler's turn: every second here.
      RECONCILE_INTERVAL_MS: '1000',
      ...bucketEnvironment(bucket),
    });
    const db = await connectDatabase(mongoUrl, 'deletion-test');
    try {
      const { apiUrl } = service;
      const run = async (key: string, rows: string[]) => {
        const upload = await fetch(`${apiUrl}/api/upload`, {
          method: 'POST',
          headers: auth(key),
          body: csvForm([CSV_HEADER, ...rows].join('\n')),
        });
        expect(upload.status).toBe(202);
        const id = ((await upload.json()) as { request_id: string }).request_id;
        await pollUntil(
          async () => {
            const status = (await (
              await fetch(`${apiUrl}/api/status/${id}`, { headers: auth(key) })
            ).json()) as {
              status: string;
            };
            return status.status === 'completed' ? true : undefined;
          },
          { timeoutMs: 60_000, what: `request ${id} completed` },
        );
        const csv = await (await fetch(`${apiUrl}/api/download/${id}`, { headers: auth(key) })).text();
        const urls = (parse(csv, { columns: true }) as Record<string, string>[]).flatMap((row) =>
          (row['Output Image Urls'] ?? '').split(',').map((url) => url.trim()),
        );
        return { id, urls };
      };
      // Alice's request uses p0, p1, p2; Bob's uses p2 (the same output) and p3.
      const alice = await run(KEY, [
        `1,Tote,"${images.url}/p0.jpg,${images.url}/p1.jpg"`,
        `2,Mug,${images.url}/p2.jpg`,
      ]);
      const bob = await run(OTHER_KEY, [`1,Cap,"${images.url}/p2.jpg,${images.url}/p3.jpg"`]);
      expect(bob.urls[0]).toBe(alice.urls[2]);
      const keyOf = (url: string | undefined) => outputKeyOf(url ?? '') ?? '';
      expect((await listObjects(bucket)).map((object) => object.key).sort()).toEqual(
        [...new Set([...alice.urls, ...bob.urls].map(keyOf))].sort(),
      );

      // Only the owner may delete it; to anyone else it does not exist.
      const stranger = await fetch(`${apiUrl}/api/requests/${alice.id}`, {
        method: 'DELETE',
        headers: auth(OTHER_KEY),
      });
      expect(stranger.status).toBe(404);
      const deleted = await fetch(`${apiUrl}/api/requests/${alice.id}`, {
        method: 'DELETE',
        headers: auth(KEY),
      });
      expect(deleted.status).toBe(202);
      const gone = await fetch(`${apiUrl}/api/status/${alice.id}`, { headers: auth(KEY) });
      expect(gone.status).toBe(404);
      expect((await problemOf(gone)).code).toBe('request_not_found');

      // The worker's sweep: the request, its products and results, and the two outputs only it listed. It
      // logs the removal once all of it is done.
      const removed = (id: string) =>
        pollUntil(
          async () =>
            service.worker
              .output()
              .split('\n')
              .find((line) => line.includes(id) && line.includes('deleted request removed')),
          { timeoutMs: 30_000, what: `request ${id} removed by the worker` },
        );
      expect(await removed(alice.id)).toMatch(/"outputs_removed":2,"outputs_kept":1,/);
      expect(await db.requests.countDocuments({ _id: alice.id })).toBe(0);
      expect(await db.products.countDocuments({ request_id: alice.id })).toBe(0);
      expect(await db.results.countDocuments({ request_id: alice.id })).toBe(0);
      expect((await listObjects(bucket)).map((object) => object.key).sort()).toEqual(
        bob.urls.map(keyOf).sort(),
      );
      for (const url of alice.urls.slice(0, 2)) expect((await fetch(url)).status).toBe(404);
      for (const url of bob.urls) expect((await fetch(url)).status).toBe(200);

      // Bob's request, deleted in turn, takes the last outputs with it.
      expect(
        (await fetch(`${apiUrl}/api/requests/${bob.id}`, { method: 'DELETE', headers: auth(OTHER_KEY) }))
          .status,
      ).toBe(202);
      expect(await removed(bob.id)).toMatch(/"outputs_removed":2,"outputs_kept":0,/);
      expect(await listObjects(bucket)).toEqual([]);
      expect(await db.requests.countDocuments({})).toBe(0);
      expect(await db.products.countDocuments({})).toBe(0);
      expect(await db.results.countDocuments({})).toBe(0);
    } finally {
      await db.close();
      await service.stop();
      await images.close();
    }
  }, 180_000);
});
