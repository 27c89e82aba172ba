import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const PRODUCTS = 10;

interface ServerSentEvent {
  readonly event: string;
  readonly data: { status: string; completion_percentage: number; counts: { products_done: number } };
}

/** Reads a text/event-stream to its end. */
async function readEvents(body: ReadableStream<Uint8Array>): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
  }
  return events;
}

describe('live progress and worker metrics, end to end', () => {
  let images: TestHttpServer;
  let service: RunningService;
  let storageDir: string;
  let metricsPort: number;

  beforeAll(async () => {
    const photo = await photoLikeJpeg(320, 240, 31);
    images = await startHttpServer((_request, response) => {
      setTimeout(() => {
        response.setHeader('content-type', 'image/jpeg');
        response.end(photo);
      }, 150);
    });
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-live-'));
    metricsPort = await freePort();
    service = await startService({
      MONGO_URL: testMongoUrl('live_progress'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
      WORKER_CONCURRENCY: '1',
      WORKER_METRICS_PORT: String(metricsPort),
    });
  });

  afterAll(async () => {
    await service?.stop();
    await images?.close();
    await rm(storageDir, { recursive: true, force: true });
  });

  it('streams progress as server-sent events until the request completes, then ends the stream', async () => {
    const rows = Array.from(
      { length: PRODUCTS },
      (_, index) => `${index + 1},P${index},${images.url}/p${index}.jpg`,
    );
    const upload = await fetch(`${service.apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm(['S. No.,Product Name,Input Image Urls', ...rows].join('\n')),
    });
    const { request_id: id } = (await upload.json()) as { request_id: string };
    const stream = await fetch(`${service.apiUrl}/api/status/${id}/events`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // Its headers are written by hand; the security headers every answer carries are among them.
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
    const events = await readEvents(stream.body as ReadableStream<Uint8Array>);

    const last = events.at(-1);
    expect(last?.event).toBe('completed');
    expect(last?.data).toMatchObject({
      status: 'completed',
      completion_percentage: 100,
      counts: { products_done: PRODUCTS },
    });
    const progress = events.filter((event) => event.event === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    const percentages = events.map((event) => event.data.completion_percentage);
    expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    expect(new Set(percentages).size).toBe(percentages.length);
  }, 60_000);

  it('serves the worker metrics on its own port: jobs, image bytes, time per image and queue depths', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
    expect(
      value(/^imgsvc_jobs_total\{[^}]*name="process-product-images"[^}]*outcome="completed"[^}]*\} (\d+)$/m),
    ).toBeGreaterThanOrEqual(PRODUCTS);
    expect(value(/^imgsvc_image_bytes_total\{[^}]*direction="in"[^}]*\} (\d+)$/m)).toBeGreaterThan(0);
    expect(value(/^imgsvc_image_bytes_total\{[^}]*direction="out"[^}]*\} (\d+)$/m)).toBeGreaterThan(0);
    expect(
      value(/^imgsvc_image_processing_seconds_count\{[^}]*outcome="stored"[^}]*\} (\d+)$/m),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^imgsvc_queue_jobs\{[^}]*queue="products"[^}]*state="waiting"[^}]*\} 0$/m);
    const api = await (await fetch(`${service.apiUrl}/metrics`)).text();
    expect(api).toMatch(
      /^imgsvc_http_request_duration_seconds_count\{[^}]*route="\/api\/upload"[^}]*status_code="202"/m,
    );
  });
});
