import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf } from './support/api.js';
import { startHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

// The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens.
const IMAGE_HOST = '127.0.0.2';

interface Status {
  request_id: string;
  status: string;
  counts: Record<string, unknown>;
  webhook?: { url: string };
  retry_of?: string;
  retried_by?: string;
}

describe('a second chance for failed images (POST /api/requests/{id}/retry) and a result uploaded again', () => {
  it('retries only the failed products and URLs as a linked request, once, and reads a result CSV as an upload', async () => {
    const photos = new Map<string, Buffer>();
    for (const [index, name] of ['p0', 'p1', 'p2'].entries()) {
      photos.set(`/${name}.jpg`, await photoLikeJpeg(160, 120, 500 + index));
    }
    // p2 is missing at first, as a host's file can be until it is uploaded.
    let p2Served = false;
    const images = await startHttpServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      const body = photos.get(path);
      if (!body || (path === '/p2.jpg' && !p2Served)) {
        response.statusCode = 404;
        response.end();
        return;
      }
      response.setHeader('content-type', 'image/jpeg');
      response.end(body);
    }, IMAGE_HOST);
    const receiver = await startHttpServer((_request, response) => {
      response.end();
    });
    const service = await startService({
      MONGO_URL: testMongoUrl('retry'),
      REDIS_URL: await testRedisUrl(),
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    const { apiUrl } = service;
    const url = (name: string) => `${images.url}/${name}.jpg`;
    const status = async (id: string) => (await (await fetch(`${apiUrl}/api/status/${id}`)).json()) as Status;
    const finished = (id: string) =>
      pollUntil(
        async () => {
          const current = await status(id);
          return current.status === 'completed' || current.status === 'failed' ? current : undefined;
        },
        { timeoutMs: 60_000, what: `request ${id} finished` },
      );
    const resultRows = async (id: string) =>
      parse(await (await fetch(`${apiUrl}/api/download/${id}`)).text()) as string[][];
    try {
      const csv = [
        CSV_HEADER,
        `1,Tote,"${url('p0')}, ${url('p2')}"`,
        `2,Mug,${url('p1')}`,
        `3,Cap,"${url('p2')},${url('p2')}"`,
      ].join('\n');
      const upload = await fetch(`${apiUrl}/api/upload`, {
        method: 'POST',
        body: csvForm(csv, { webhook_url: `${receiver.url}/hooks` }),
      });
      expect(upload.status).toBe(202);
      const original = ((await upload.json()) as { request_id: string }).request_id;
      expect(await finished(original)).toMatchObject({
        status: 'completed',
        counts: { images: 5, images_succeeded: 2, images_failed: 3 },
      });
      const firstResult = await resultRows(original);

      // The host has the file now: the failed images are retried, nothing else.
      p2Served = true;
      const retry = await fetch(`${apiUrl}/api/requests/${original}/retry`, { method: 'POST' });
      expect(retry.status).toBe(202);
      const retried = (await retry.json()) as {
        request_id: string;
        retry_of: string;
        products: number;
        images: number;
      };
      expect(retried).toMatchObject({ retry_of: original, products: 2, images: 3 });
      expect(retried.request_id).not.toBe(original);
      expect(await finished(retried.request_id)).toMatchObject({
        status: 'completed',
        retry_of: original,
        counts: { products: 2, images: 3, images_succeeded: 3, images_failed: 0 },
        webhook: { url: `${receiver.url}/hooks` },
      });
      expect((await status(original)).retried_by).toBe(retried.request_id);
      const rows = await resultRows(retried.request_id);
      expect(rows.slice(1).map((row) => row.slice(0, 3))).toEqual([
        ['1', 'Tote', url('p2')],
        ['3', 'Cap', `${url('p2')}, ${url('p2')}`],
      ]);
      const [toteOutput] = rows[1]?.[3]?.split(', ') ?? [];
      expect(rows[2]?.[3]).toBe(`${toteOutput}, ${toteOutput}`);
      expect((await fetch(toteOutput ?? '')).status).toBe(200);

      // Once only: the retry is named; a request with nothing failed has nothing to retry.
      const again = await fetch(`${apiUrl}/api/requests/${original}/retry`, { method: 'POST' });
      expect(again.status).toBe(409);
      expect(await problemOf(again)).toMatchObject({
        code: 'already_retried',
        retried_by: retried.request_id,
      });
      const nothing = await fetch(`${apiUrl}/api/requests/${retried.request_id}/retry`, { method: 'POST' });
      expect(nothing.status).toBe(409);
      expect((await problemOf(nothing)).code).toBe('nothing_to_retry');
      const badHook = await fetch(`${apiUrl}/api/requests/${original}/retry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ webhook_url: 'ftp://x' }),
      });
      expect(badHook.status).toBe(400);

      // The first result, uploaded again as it came back, is an upload like any other.
      const resultCsv = firstResult
        .map((row) => row.map((cell) => `"${cell.replaceAll('"', '""')}"`).join(','))
        .join('\n');
      const reupload = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: csvForm(resultCsv) });
      expect(reupload.status).toBe(202);
      const reuploaded = (await reupload.json()) as { request_id: string; warnings: { message: string }[] };
      expect(reuploaded.warnings[0]?.message).toMatch(
        /^the result columns "Output Image Urls", "Errors" ignored/,
      );
      expect(await finished(reuploaded.request_id)).toMatchObject({
        status: 'completed',
        counts: { images: 5, images_succeeded: 5, images_failed: 0 },
      });
    } finally {
      await service.stop();
      await images.close();
      await receiver.close();
    }
  }, 180_000);
});
