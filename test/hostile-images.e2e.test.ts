import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const MAX_IMAGE_BYTES = 1_000_000;
// The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens:
// 127.0.0.1 (where `localhost` resolves) stays refused, as a private address would be in production.
const IMAGE_HOST = '127.0.0.2';

/** A PNG of a few bytes whose header declares 100,000 x 100,000 pixels. */
async function pixelBomb(): Promise<Buffer> {
  const small = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
  const bomb = Buffer.from(small);
  bomb.writeUInt32BE(100_000, 16);
  bomb.writeUInt32BE(100_000, 20);
  return bomb;
}

describe('hostile and broken images, end to end', () => {
  let images: TestHttpServer;
  let service: RunningService;
  let storageDir: string;
  let flakyCalls = 0;
  const bodies = new Map<string, { body: Buffer; type: string }>();
  // Files served with an ETag, as image hosts and CDNs do; every answer is noted as "<status> <path>".
  const versioned = new Map<string, { body: Buffer; etag: string }>();
  const versionedAnswers: string[] = [];

  beforeAll(async () => {
    const photo = await photoLikeJpeg(640, 480, 11);
    bodies.set('/ok/a.jpg', { body: photo, type: 'image/jpeg' });
    bodies.set('/shared.jpg', { body: await photoLikeJpeg(480, 320, 12), type: 'image/jpeg' });
    bodies.set('/ok/b.png', {
      body: await sharp(await photoLikeJpeg(200, 100, 13))
        .ensureAlpha(0.6)
        .png()
        .toBuffer(),
      type: 'image/png',
    });
    bodies.set('/ok/c.webp', {
      body: await sharp(await photoLikeJpeg(300, 200, 14))
        .webp({ quality: 90 })
        .toBuffer(),
      type: 'image/webp',
    });
    bodies.set('/html-as-jpeg.jpg', {
      body: Buffer.from('<!doctype html><title>Sign in</title>'),
      type: 'image/jpeg',
    });
    bodies.set('/bomb.png', { body: await pixelBomb(), type: 'image/png' });
    bodies.set('/truncated.jpg', {
      body: photo.subarray(0, Math.floor(photo.length / 3)),
      type: 'image/jpeg',
    });
    const huge = Buffer.concat([photo, Buffer.alloc(MAX_IMAGE_BYTES)]);
    // LZW: TIFF's default JPEG compression cannot hold an alpha channel.
    bodies.set('/transparent.tiff', {
      body: await sharp(await photoLikeJpeg(240, 160, 15))
        .ensureAlpha(0.5)
        .tiff({ compression: 'lzw' })
        .toBuffer(),
      type: 'image/tiff',
    });
    bodies.set('/drawing.svg', {
      body: Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="30"/></svg>',
      ),
      type: 'image/svg+xml',
    });
    bodies.set('/leaflet.pdf', {
      body: Buffer.from(
        '%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
      ),
      type: 'application/pdf',
    });

    images = await startHttpServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      const version = versioned.get(path);
      if (version) {
        response.setHeader('etag', version.etag);
        response.statusCode = request.headers['if-none-match'] === version.etag ? 304 : 200;
        versionedAnswers.push(`${response.statusCode} ${path}`);
        if (response.statusCode === 200) response.setHeader('content-type', 'image/jpeg');
        response.end(response.statusCode === 200 ? version.body : undefined);
        return;
      }
      const file = bodies.get(path);
      if (file) {
        response.setHeader('content-type', file.type);
        response.end(file.body);
        return;
      }
      const hops = /^\/hops\/(\d+)\.jpg$/.exec(path);
      if (hops) {
        const left = Number(hops[1]);
        response.writeHead(302, { location: left > 1 ? `/hops/${left - 1}.jpg` : '/ok/a.jpg' });
        response.end();
        return;
      }
      switch (path) {
        case '/no-location.jpg':
          response.writeHead(302);
          response.end();
          return;
        case '/bad-location.jpg':
          response.writeHead(301, { location: 'http://[images.example/a.jpg' });
          response.end();
          return;
        case '/reset.jpg':
          request.socket.destroy();
          return;
        case '/flaky.jpg':
          flakyCalls += 1;
          if (flakyCalls <= 2) {
            response.statusCode = 503;
            response.end();
          } else {
            response.setHeader('content-type', 'image/jpeg');
            response.end(photo);
          }
          return;
        case '/error.jpg':
          response.statusCode = 500;
          response.end('oops');
          return;
        case '/huge.jpg':
          response.setHeader('content-length', huge.length);
          response.end(huge);
          return;
        case '/huge-chunked.jpg':
          response.write(huge.subarray(0, 600_000));
          response.end(huge.subarray(600_000));
          return;
        case '/drip.jpg': {
          const drip = setInterval(() => response.write(Buffer.from([0xff])), 200);
          response.on('close', () => clearInterval(drip));
          return;
        }
        case '/loop.jpg':
          response.writeHead(302, { location: '/loop.jpg' });
          response.end();
          return;
        default:
          response.statusCode = 404;
          response.end();
      }
    }, IMAGE_HOST);
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-hostile-'));
    service = await startService({
      MONGO_URL: testMongoUrl('hostile'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      FETCH_TIMEOUT_MS: '1500',
      FETCH_MAX_ATTEMPTS: '3',
      FETCH_MAX_REDIRECTS: '2',
      FETCH_RETRY_MAX_DELAY_MS: '200',
      MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES),
      WORKER_CONCURRENCY: '2',
    });
  });

  afterAll(async () => {
    await service?.stop();
    await images?.close();
    await rm(storageDir, { recursive: true, force: true });
  });

  const url = (path: string) => `${images.url}${path}`;
  const products = () =>
    [
      ['1', 'Good and HTML', [url('/ok/a.jpg'), url('/html-as-jpeg.jpg')]],
      ['2', 'Bomb, missing, flaky', [url('/bomb.png'), url('/missing.jpg'), url('/flaky.jpg')]],
      ['3', 'Server trouble', [url('/error.jpg'), url('/huge.jpg'), url('/huge-chunked.jpg')]],
      ['4', 'Slow and broken', [url('/drip.jpg'), url('/loop.jpg'), url('/truncated.jpg')]],
      ['5', 'Shared and PNG', [url('/shared.jpg'), url('/ok/b.png')]],
      ['6', 'Shared and WebP', [url('/shared.jpg'), url('/ok/c.webp')]],
      ['7', 'Shared only', [url('/shared.jpg')]],
    ] as const;
  const csvText = () =>
    [
      'S. No.,Product Name,Input Image Urls',
      ...products().map(([serial, name, urls]) => `${serial},"${name}","${urls.join(', ')}"`),
    ].join('\n');

  async function runRequest(csv = csvText()): Promise<{
    id: string;
    text: string;
    rows: string[][];
    counts: Record<string, number>;
  }> {
    const upload = await fetch(`${service.apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(upload.status).toBe(202);
    const { request_id: id, status_url: statusUrl } = (await upload.json()) as {
      request_id: string;
      status_url: string;
    };
    const status = await pollUntil(
      async () => {
        const body = (await (await fetch(statusUrl)).json()) as {
          status: string;
          counts: Record<string, number>;
        };
        return body.status === 'completed' || body.status === 'failed' ? body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'request finished' },
    );
    expect(status.status).toBe('completed');
    const text = await (await fetch(`${service.apiUrl}/api/download/${id}`)).text();
    return { id, text, rows: parse(text) as string[][], counts: status.counts };
  }

  it('records each bad image with its code, keeps the good ones, and completes the request', async () => {
    const { rows, counts } = await runRequest();
    expect(counts).toEqual({
      products: 7,
      products_done: 7,
      images: 16,
      images_succeeded: 7,
      images_failed: 9,
      failures_by_code: {
        decode_error: 1,
        fetch_timeout: 1,
        http_404: 1,
        http_500: 1,
        not_an_image: 1,
        too_large: 2,
        too_many_pixels: 1,
        too_many_redirects: 1,
      },
    });

    const errorsOf = (serial: string) => rows.find((row) => row[0] === serial)?.[4] ?? '';
    const outputsOf = (serial: string) => (rows.find((row) => row[0] === serial)?.[3] ?? '').split(', ');
    expect(errorsOf('1')).toMatch(new RegExp(`^${url('/html-as-jpeg.jpg')}: not_an_image `));
    expect(errorsOf('2')).toContain(
      `${url('/bomb.png')}: too_many_pixels (100000x100000 is more than 50000000 pixels)`,
    );
    expect(errorsOf('2')).toContain(`${url('/missing.jpg')}: http_404`);
    expect(errorsOf('3')).toContain(`${url('/error.jpg')}: http_500`);
    expect(errorsOf('3')).toContain(`${url('/huge.jpg')}: too_large`);
    expect(errorsOf('3')).toContain(`${url('/huge-chunked.jpg')}: too_large`);
    expect(errorsOf('4')).toContain(`${url('/drip.jpg')}: fetch_timeout`);
    expect(errorsOf('4')).toContain(`${url('/loop.jpg')}: too_many_redirects`);
    expect(errorsOf('4')).toContain(`${url('/truncated.jpg')}: decode_error`);

    // Good images sit beside bad ones in the same product, in their own positions.
    expect(outputsOf('1')[0]).toMatch(/\/images\/[0-9a-f]{64}\.jpg$/);
    expect(outputsOf('1')[1]).toBe('');
    expect(outputsOf('2')).toEqual(['', '', expect.stringMatching(/\.jpg$/)]);
    expect(flakyCalls).toBe(3);
    expect(outputsOf('5')[1]).toMatch(/\.png$/);
    expect(outputsOf('6')[1]).toMatch(/\.webp$/);
    const webp = await (await fetch(outputsOf('6')[1] ?? '')).arrayBuffer();
    expect(await sharp(Buffer.from(webp)).metadata()).toMatchObject({
      format: 'webp',
      width: 300,
      height: 200,
    });

    // One URL named by three products is fetched once and gives one output.
    expect(images.hits.filter((hit) => hit === '/shared.jpg')).toHaveLength(1);
    expect(new Set([outputsOf('5')[0], outputsOf('6')[0], outputsOf('7')[0]]).size).toBe(1);
    // The 500 was retried up to FETCH_MAX_ATTEMPTS; the 404 was not retried.
    expect(images.hits.filter((hit) => hit === '/error.jpg')).toHaveLength(3);
    expect(images.hits.filter((hit) => hit === '/missing.jpg')).toHaveLength(1);
  }, 90_000);

  it('follows FETCH_MAX_REDIRECTS redirects, and names bad redirects, dropped connections and formats it does not take', async () => {
    const csv = [
      'S. No.,Product Name,Input Image Urls',
      `1,Redirects,"${url('/hops/2.jpg')}, ${url('/hops/3.jpg')}"`,
      `2,Bad redirects,"${url('/no-location.jpg')}, ${url('/bad-location.jpg')}"`,
      `3,Dropped,${url('/reset.jpg')}`,
      `4,Formats,"${url('/drawing.svg')}, ${url('/leaflet.pdf')}, ${url('/transparent.tiff')}"`,
    ].join('\n');
    const { rows, counts } = await runRequest(csv);
    expect(counts).toEqual({
      products: 4,
      products_done: 4,
      images: 8,
      images_succeeded: 2,
      images_failed: 6,
      failures_by_code: {
        bad_redirect: 2,
        connection_error: 1,
        too_many_redirects: 1,
        unsupported_format: 2,
      },
    });
    const row = (serial: string) => rows.find((entry) => entry[0] === serial) ?? [];
    // FETCH_MAX_REDIRECTS is 2 here: two hops reach the image, a third is one too many.
    expect(row('1')[3]?.split(', ')).toEqual([expect.stringMatching(/\/images\/[0-9a-f]{64}\.jpg$/), '']);
    expect(row('1')[4]).toBe(`${url('/hops/3.jpg')}: too_many_redirects (more than 2 redirects)`);
    expect(row('2')[4]).toBe(
      `${url('/no-location.jpg')}: bad_redirect (a 302 answer without a Location); ` +
        `${url('/bad-location.jpg')}: bad_redirect (a redirect to an invalid URL)`,
    );
    expect(row('3')[4]).toMatch(
      new RegExp(`^${url('/reset.jpg').replaceAll('.', '\\.')}: connection_error \\(the connection failed`),
    );
    // A dropped connection is worth another attempt, up to FETCH_MAX_ATTEMPTS.
    expect(images.hits.filter((hit) => hit === '/reset.jpg')).toHaveLength(3);
    expect(row('4')[4]).toBe(
      `${url('/drawing.svg')}: unsupported_format (svg images are not supported); ` +
        `${url('/leaflet.pdf')}: unsupported_format (pdf images are not supported)`,
    );
    const tiffOutput = row('4')[3]?.split(', ')[2] ?? '';
    expect(tiffOutput).toMatch(/\/images\/[0-9a-f]{64}\.png$/);
    const png = Buffer.from(await (await fetch(tiffOutput)).arrayBuffer());
    expect(await sharp(png).metadata()).toMatchObject({
      format: 'png',
      width: 240,
      height: 160,
      hasAlpha: true,
    });
  }, 90_000);

  it('gives the same outputs to the same images uploaded again, without encoding them again', async () => {
    const first = await runRequest();
    const sharedOutput = first.rows.find((row) => row[0] === '7')?.[3] ?? '';
    const key = sharedOutput.split('/images/')[1] ?? '';
    const file = join(storageDir, key.slice(0, 2), key);
    const before = await stat(file);
    const again = await runRequest();
    expect(again.rows.map((row) => row[3])).toEqual(first.rows.map((row) => row[3]));
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs);
    // The worker is still there after all of it.
    expect(service.worker.child.exitCode).toBeNull();
  }, 120_000);

  it('asks the image host whether a known image changed, and downloads only what did', async () => {
    versioned.set('/versioned/a.jpg', { body: await photoLikeJpeg(320, 240, 21), etag: '"a1"' });
    versioned.set('/versioned/b.jpg', { body: await photoLikeJpeg(320, 240, 22), etag: '"b1"' });
    const csv = [
      'S. No.,Product Name,Input Image Urls',
      `1,Versioned,"${url('/versioned/a.jpg')}, ${url('/versioned/b.jpg')}"`,
    ].join('\n');
    const outputs = async () =>
      ((await runRequest(csv)).rows.find((row) => row[0] === '1')?.[3] ?? '').split(', ');
    const answers = () => versionedAnswers.splice(0).sort();

    const first = await outputs();
    expect(first).toEqual([expect.stringMatching(/\.jpg$/), expect.stringMatching(/\.jpg$/)]);
    expect(answers()).toEqual(['200 /versioned/a.jpg', '200 /versioned/b.jpg']);

    // The same catalogue again: both unchanged, nothing downloaded, the same outputs.
    expect(await outputs()).toEqual(first);
    expect(answers()).toEqual(['304 /versioned/a.jpg', '304 /versioned/b.jpg']);

    // b changed on the host: only b is downloaded, and it gets a new output.
    versioned.set('/versioned/b.jpg', { body: await photoLikeJpeg(320, 240, 23), etag: '"b2"' });
    const third = await outputs();
    expect(third[0]).toBe(first[0]);
    expect(third[1]).not.toBe(first[1]);
    expect(answers()).toEqual(['200 /versioned/b.jpg', '304 /versioned/a.jpg']);

    // a's stored output was lost: a 304 alone is not enough, a is downloaded and stored again.
    const key = first[0]?.split('/images/')[1] ?? '';
    const file = join(storageDir, key.slice(0, 2), key);
    await rm(file);
    expect((await outputs())[0]).toBe(first[0]);
    expect(answers()).toEqual(['200 /versioned/a.jpg', '304 /versioned/a.jpg', '304 /versioned/b.jpg']);
    expect((await stat(file)).isFile()).toBe(true);
  }, 120_000);

  it('tells the client a refused host is not allowed, and keeps the address it resolved to for the log', async () => {
    // localhost resolves to 127.0.0.1, which the allow-list does not open.
    const refused = `http://localhost:${new URL(images.url).port}/ok/a.jpg`;
    const hitsBefore = images.hits.length;
    const { id, text, rows, counts } = await runRequest(
      ['S. No.,Product Name,Input Image Urls', `1,Refused,${refused}`].join('\n'),
    );
    expect(counts).toMatchObject({ images: 1, images_failed: 1 });
    expect(rows[1]?.[4]).toBe(`${refused}: blocked_address (the host is not allowed)`);

    const products = await (await fetch(`${service.apiUrl}/api/requests/${id}/products`)).text();
    const [image] = (JSON.parse(products) as { products: { images: { error: unknown }[] }[] }).products[0]
      ?.images ?? [undefined];
    expect(image?.error).toEqual({ code: 'blocked_address', message: 'the host is not allowed' });
    for (const seen of [text, products]) {
      expect(seen).not.toContain('127.0.0.1');
      expect(seen).not.toContain('::1');
    }
    expect(images.hits.length).toBe(hitsBefore);

    // The operator still learns where the name led, on a log line that names the request.
    const logged = await pollUntil(
      async () =>
        service.worker
          .output()
          .split('\n')
          .find(
            (line) => line.includes(id) && line.includes('blocked_address') && line.includes('127.0.0.1'),
          ),
      { timeoutMs: 5000, what: 'the refusal logged with its address' },
    );
    expect(logged).toContain('localhost');
  }, 60_000);
});
