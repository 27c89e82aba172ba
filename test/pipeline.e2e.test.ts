import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody, serveFiles, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { standardJpegQuality } from './support/jpeg-quality.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

// Images and the webhook receiver stand in for public hosts on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS
// opens: the worker fetches and calls back with the address guard on, as in production.
const PUBLIC_STAND_IN = '127.0.0.2';

const WEBHOOK_SECRET = `whsec_${Buffer.from('end-to-end test secret, 32 bytes!').toString('base64')}`;

const PHOTOS = [
  { name: 'front.jpg', width: 800, height: 600 },
  { name: 'back.jpg', width: 1024, height: 768 },
  { name: 'side.jpg', width: 600, height: 900 },
  { name: 'detail.jpg', width: 640, height: 480 },
  { name: 'label.jpg', width: 500, height: 500 },
  { name: 'box.jpg', width: 1200, height: 800 },
] as const;

interface ReceivedWebhook {
  readonly headers: Record<string, string>;
  readonly body: string;
}

describe('a CSV uploaded with curl-like HTTP calls is processed end to end by the real programs', () => {
  const photos = new Map<string, { body: Buffer; type: string; width: number; height: number }>();
  const webhooks: ReceivedWebhook[] = [];
  let images: TestHttpServer;
  let receiver: TestHttpServer;
  let service: RunningService;
  let storageDir: string;

  beforeAll(async () => {
    for (const [index, photo] of PHOTOS.entries()) {
      const body = await photoLikeJpeg(photo.width, photo.height, index + 1);
      photos.set(`/photos/${photo.name}`, {
        body,
        type: 'image/jpeg',
        width: photo.width,
        height: photo.height,
      });
    }
    images = await startHttpServer(serveFiles(photos), PUBLIC_STAND_IN);
    receiver = await startHttpServer(async (request, response) => {
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(request.headers)) headers[key] = String(value);
      webhooks.push({ headers, body: await readBody(request) });
      response.statusCode = 204;
      response.end();
    }, PUBLIC_STAND_IN);
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-e2e-'));
    service = await startService({
      MONGO_URL: testMongoUrl('pipeline'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_NETWORKS: `${PUBLIC_STAND_IN}/32`,
      WEBHOOK_SECRET,
      WORKER_CONCURRENCY: '2',
    });
  });

  afterAll(async () => {
    await service?.stop();
    await images?.close();
    await receiver?.close();
    await rm(storageDir, { recursive: true, force: true });
  });

  it('stores every image at JPEG quality 50, returns a result CSV in input order and calls the webhook', async () => {
    const photo = (name: string) => `${images.url}/photos/${name}`;
    const products = [
      { serial: 1, name: 'Canvas Tote', urls: [photo('front.jpg'), photo('back.jpg')] },
      {
        serial: 2,
        name: 'Shirt, "red" XL',
        urls: [photo('side.jpg'), photo('detail.jpg'), photo('label.jpg')],
      },
      // A URL given twice in a cell gets its output twice.
      { serial: 3, name: 'Desk Lamp', urls: [photo('box.jpg'), photo('box.jpg')] },
      { serial: 4, name: 'Mug', urls: [photo('front.jpg'), photo('missing.jpg')] },
    ];
    const csvText = [
      'S. No.,Product Name,Input Image Urls',
      ...products.map(
        (product) => `${product.serial},"${product.name.replaceAll('"', '""')}","${product.urls.join(', ')}"`,
      ),
    ].join('\r\n');

    const form = new FormData();
    form.append('file', new Blob([csvText], { type: 'text/csv' }), 'products.csv');
    form.append('webhook_url', `${receiver.url}/hooks/images`);
    const upload = await fetch(`${service.apiUrl}/api/upload`, { method: 'POST', body: form });
    expect(upload.status).toBe(202);
    const accepted = (await upload.json()) as { request_id: string; status: string; status_url: string };
    expect(accepted.request_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(accepted.status).toBe('pending');

    const percentages: number[] = [];
    const finished = await pollUntil(
      async () => {
        const response = await fetch(accepted.status_url);
        const status = (await response.json()) as {
          status: string;
          completion_percentage: number;
          counts: Record<string, number>;
          webhook?: { state: string };
        };
        percentages.push(status.completion_percentage);
        return status.status === 'completed' ? status : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'request completed' },
    );
    expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    expect(finished.completion_percentage).toBe(100);
    expect(finished.counts).toEqual({
      products: 4,
      products_done: 4,
      images: 9,
      images_succeeded: 8,
      images_failed: 1,
      failures_by_code: { http_404: 1 },
    });

    const download = await fetch(`${service.apiUrl}/api/download/${accepted.request_id}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parse(await download.text()) as string[][];
    expect(rows[0]).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors']);
    expect(rows.slice(1).map((row) => row[1])).toEqual(products.map((product) => product.name));

    for (const [index, product] of products.entries()) {
      const row = rows[index + 1] ?? [];
      expect(row[0]).toBe(String(product.serial));
      expect(row[2]?.split(', ')).toEqual(product.urls);
      const outputs = row[3]?.split(', ') ?? [];
      expect(outputs).toHaveLength(product.urls.length);
      for (const [position, inputUrl] of product.urls.entries()) {
        const source = photos.get(new URL(inputUrl).pathname);
        const outputUrl = outputs[position] ?? '';
        if (!source) {
          expect(outputUrl).toBe('');
          expect(row[4]).toContain(`${inputUrl}: http_404`);
          continue;
        }
        expect(outputUrl).toMatch(new RegExp(`^${service.apiUrl}/images/[0-9a-f]{64}\\.jpg$`));
        const image = await fetch(outputUrl);
        expect(image.status).toBe(200);
        expect(image.headers.get('content-type')).toBe('image/jpeg');
        const bytes = Buffer.from(await image.arrayBuffer());
        const metadata = await sharp(bytes).metadata();
        expect(metadata.format).toBe('jpeg');
        expect([metadata.width, metadata.height]).toEqual([source.width, source.height]);
        expect(standardJpegQuality(bytes)).toBe(50);
        expect(bytes.length).toBeLessThan(source.body.length);
        // Decoding the whole image proves it is complete, not just a valid header.
        await sharp(bytes).raw().toBuffer();
      }
    }
    expect(rows[4]?.[4]).toBe(`${photo('missing.jpg')}: http_404 (the server answered 404)`);
    const [lampFirst, lampSecond] = rows[3]?.[3]?.split(', ') ?? [];
    expect(lampFirst).toBe(lampSecond);

    // The same result as JSON, asked for by the query or by Accept: the same products, URLs and errors.
    for (const ask of [
      fetch(`${service.apiUrl}/api/download/${accepted.request_id}?format=json`),
      fetch(`${service.apiUrl}/api/download/${accepted.request_id}`, {
        headers: { accept: 'application/json' },
      }),
    ]) {
      const answer = await ask;
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      const result = (await answer.json()) as {
        request_id: string;
        status: string;
        counts: Record<string, unknown>;
        products: {
          serial_number: number;
          product_name: string;
          images: {
            input_url: string;
            output_url: string | null;
            input_bytes: number | null;
            output_bytes: number | null;
            error: { code: string } | null;
          }[];
        }[];
      };
      // Each image's weight before and after: the photo served, and the output stored.
      for (const image of result.products.flatMap((product) => product.images)) {
        if (image.output_url === null) {
          expect([image.input_bytes, image.output_bytes]).toEqual([null, null]);
          continue;
        }
        const served = photos.get(new URL(image.input_url).pathname);
        if (!served) continue;
        expect(image.input_bytes).toBe(served.body.length);
        const output = await fetch(image.output_url.replace(/^https?:\/\/[^/]+/, service.apiUrl));
        expect(image.output_bytes).toBe((await output.arrayBuffer()).byteLength);
      }
      expect(result).toMatchObject({
        request_id: accepted.request_id,
        status: 'completed',
        counts: finished.counts,
      });
      expect(
        result.products.map((product) => [
          String(product.serial_number),
          product.product_name,
          product.images.map((image) => image.input_url).join(', '),
          product.images.map((image) => image.output_url ?? '').join(', '),
        ]),
      ).toEqual(rows.slice(1).map((row) => row.slice(0, 4)));
      expect(result.products[3]?.images[1]?.error).toEqual({
        code: 'http_404',
        message: 'the server answered 404',
      });
    }
    const csvAgain = await fetch(`${service.apiUrl}/api/download/${accepted.request_id}?format=csv`, {
      headers: { accept: 'application/json' },
    });
    expect(csvAgain.headers.get('content-type')).toMatch(/^text\/csv/);
    const badFormat = await fetch(`${service.apiUrl}/api/download/${accepted.request_id}?format=xml`);
    expect(badFormat.status).toBe(400);

    const delivered = await pollUntil(async () => webhooks[0], {
      timeoutMs: 15_000,
      what: 'webhook received',
    });
    const event = new Webhook(WEBHOOK_SECRET).verify(delivered.body, delivered.headers) as {
      type: string;
      data: { request_id: string; status: string; download_url: string };
    };
    expect(event.type).toBe('request.completed');
    expect(event.data.request_id).toBe(accepted.request_id);
    expect(event.data.status).toBe('completed');
    expect(event.data.download_url).toBe(`${service.apiUrl}/api/download/${accepted.request_id}`);
    const afterWebhook = await pollUntil(
      async () => {
        const status = (await (await fetch(accepted.status_url)).json()) as { webhook?: { state: string } };
        return status.webhook?.state === 'delivered' ? status : undefined;
      },
      { timeoutMs: 10_000, what: 'webhook recorded as delivered' },
    );
    expect(afterWebhook.webhook).toMatchObject({ state: 'delivered', attempts: 1, last_error: null });
  });

  it('answers 404 for a request id nobody created', async () => {
    const response = await fetch(`${service.apiUrl}/api/status/3b0c1a1e-7a8f-4a57-9d5b-3c6f1f0e9a11`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('stops both programs cleanly on SIGTERM', async () => {
    const [apiCode, workerCode] = await Promise.all([service.api.stop(), service.worker.stop()]);
    expect({ apiCode, workerCode }).toEqual({ apiCode: 0, workerCode: 0 });
  });
});
