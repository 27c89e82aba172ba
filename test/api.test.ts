import { jobIds } from '@imgsvc/queue';
import { contentKey, createDiskImageStore } from '@imgsvc/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf, startTestApi, type TestApi } from './support/api.js';

const HEADER = CSV_HEADER;
const VALID_CSV = `${HEADER}\n1,Tote,"https://img.example/1.jpg, https://img.example/2.jpg"\n2,Mug,https://img.example/3.jpg\n`;

describe('the API without a worker', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('api', { MAX_UPLOAD_BYTES: '4096' });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('accepts a valid CSV: 202, a pending request, its products and its job', async () => {
    const response = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(VALID_CSV, { webhook_url: 'https://hooks.example/done' }),
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as Record<string, string>;
    const id = body.request_id ?? '';
    expect(body).toEqual({
      request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'pending',
      status_url: `http://127.0.0.1:3000/api/status/${id}`,
      download_url: `http://127.0.0.1:3000/api/download/${id}`,
    });
    expect(response.headers.get('location')).toBe(body.status_url);
    expect(await api.db.products.find({ request_id: id }).sort({ row: 1 }).toArray()).toMatchObject([
      {
        row: 1,
        serial_number: 1,
        product_name: 'Tote',
        input_urls: ['https://img.example/1.jpg', 'https://img.example/2.jpg'],
      },
      {
        row: 2,
        serial_number: 2,
        product_name: 'Mug',
        input_urls: ['https://img.example/3.jpg'],
      },
    ]);
    const job = await api.queues.requests.getJob(jobIds.processImages(id));
    expect(job?.name).toBe('process-images');
    // A request this small hands its products to the fan-out with the job.
    expect(job?.data).toEqual({
      requestId: id,
      products: [
        { row: 1, urls: ['https://img.example/1.jpg', 'https://img.example/2.jpg'] },
        { row: 2, urls: ['https://img.example/3.jpg'] },
      ],
    });

    const status = await fetch(`${api.url}/api/status/${id}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      request_id: id,
      status: 'pending',
      completion_percentage: 0,
      counts: {
        products: 2,
        products_done: 0,
        images: 3,
        images_succeeded: 0,
        images_failed: 0,
        failures_by_code: {},
      },
      webhook: { url: 'https://hooks.example/done', state: 'pending', attempts: 0 },
    });

    const download = await fetch(`${api.url}/api/download/${id}`);
    expect(download.status).toBe(409);
    expect(await problemOf(download)).toMatchObject({ code: 'not_finished', status: 409 });
  });

  it('answers 404 for unknown and malformed request ids', async () => {
    for (const id of ['7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11', 'not-an-id', '507f1f77bcf86cd799439011']) {
      for (const route of ['status', 'download']) {
        const response = await fetch(`${api.url}/api/${route}/${id}`);
        expect(response.status).toBe(404);
        expect((await problemOf(response)).code).toBe('request_not_found');
      }
    }
  });

  it('serves a stored image with its type, a long cache lifetime and an ETag', async () => {
    const key = contentKey(['api test image'], 'jpg');
    await createDiskImageStore(api.storageDir).put(key, Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
    const response = await fetch(`${api.url}/images/${key}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('cache-control')).toContain('immutable');
    const etag = response.headers.get('etag') ?? '';
    expect(Buffer.from(await response.arrayBuffer())).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
    expect((await fetch(`${api.url}/images/${key}`, { headers: { 'if-none-match': etag } })).status).toBe(
      304,
    );
    for (const bad of ['../../etc/passwd', `${'a'.repeat(64)}.exe`, `${'b'.repeat(64)}.jpg`]) {
      expect((await fetch(`${api.url}/images/${encodeURIComponent(bad)}`)).status).toBe(404);
    }
  });

  it('reports liveness and readiness with MongoDB, Redis and the storage checked', async () => {
    expect(await (await fetch(`${api.url}/health/live`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${api.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ok',
      checks: { mongodb: 'ok', redis: 'ok', storage: 'ok' },
    });
  });

  it('tells the uploader how a file that needed a reading of its own was read, in the answer and in the status', async () => {
    const csv = [
      'Sr. No,Product,Image URLs,Output Image Urls,Errors',
      '1.,Tote,https://img.example/1.jpg,https://old.example/images/x.jpg,',
      '2.,Mug,https://img.example/2.jpg,,https://img.example/2.jpg: http_404 (the server answered 404)',
    ].join('\n');
    const upload = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(upload.status).toBe(202);
    const body = (await upload.json()) as { request_id: string; warnings: unknown };
    const warnings = [
      {
        line: 1,
        message: expect.stringMatching(/^the result columns "Output Image Urls", "Errors" ignored/),
      },
      { line: 2, message: 'serial number "1." read as 1 (and 1 more written with a final dot)' },
    ];
    expect(body.warnings).toEqual(warnings);
    const status = (await (await fetch(`${api.url}/api/status/${body.request_id}`)).json()) as {
      warnings: unknown;
    };
    expect(status.warnings).toEqual(warnings);
    expect(
      await api.db.products.find({ request_id: body.request_id }).sort({ row: 1 }).toArray(),
    ).toMatchObject([
      { serial_number: 1, product_name: 'Tote', input_urls: ['https://img.example/1.jpg'] },
      { serial_number: 2, product_name: 'Mug', input_urls: ['https://img.example/2.jpg'] },
    ]);
    // A file written as expected carries none.
    const plain = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(VALID_CSV) });
    expect(await plain.json()).not.toHaveProperty('warnings');
  });

  it('deletes only a finished request, which is then gone for every route at once', async () => {
    const upload = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(VALID_CSV) });
    const id = ((await upload.json()) as { request_id: string }).request_id;
    const running = await fetch(`${api.url}/api/requests/${id}`, { method: 'DELETE' });
    expect(running.status).toBe(409);
    expect(await problemOf(running)).toMatchObject({
      code: 'not_finished',
      detail: 'the request is pending (0%); it can be deleted once it is finished',
    });
    expect((await fetch(`${api.url}/api/status/${id}`)).status).toBe(200);

    // As the worker leaves a request it has finished.
    await api.db.requests.updateOne({ _id: id }, { $set: { status: 'completed', finished_at: new Date() } });
    const deleted = await fetch(`${api.url}/api/requests/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(202);
    expect(await deleted.json()).toEqual({ request_id: id, deleted_at: expect.stringMatching(/^20\d\d-/) });
    for (const path of [`/api/status/${id}`, `/api/download/${id}`, `/api/requests/${id}/products`]) {
      const gone = await fetch(`${api.url}${path}`);
      expect(gone.status, path).toBe(404);
      expect((await problemOf(gone)).code).toBe('request_not_found');
    }
    expect((await fetch(`${api.url}/api/requests/${id}`, { method: 'DELETE' })).status).toBe(404);
    // The worker's sweep removes it; until then it is only marked.
    expect((await api.db.requests.findOne({ _id: id }))?.deleted_at).toBeInstanceOf(Date);
    expect((await fetch(`${api.url}/api/requests/not-a-request`, { method: 'DELETE' })).status).toBe(404);
  });

  it('answers unknown routes with a problem', async () => {
    const response = await fetch(`${api.url}/api/nothing-here`);
    expect(response.status).toBe(404);
    expect((await problemOf(response)).code).toBe('not_found');
  });
});

describe('the API with API_KEYS', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('api_keys', { API_KEYS: 'key-one,key-two' });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('needs a key, and shows a request only to the key that created it', async () => {
    const anonymous = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(VALID_CSV) });
    expect(anonymous.status).toBe(401);
    expect((await problemOf(anonymous)).code).toBe('unauthorized');
    const wrong = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(VALID_CSV),
      headers: { authorization: 'Bearer key-three' },
    });
    expect(wrong.status).toBe(401);

    const created = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(VALID_CSV),
      headers: { authorization: 'Bearer key-one' },
    });
    expect(created.status).toBe(202);
    const { request_id: id } = (await created.json()) as { request_id: string };
    const request = await api.db.requests.findOne({ _id: id });
    expect(request?.owner).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(request)).not.toContain('key-one');

    const own = await fetch(`${api.url}/api/status/${id}`, { headers: { authorization: 'Bearer key-one' } });
    expect(own.status).toBe(200);
    const other = await fetch(`${api.url}/api/status/${id}`, {
      headers: { authorization: 'Bearer key-two' },
    });
    expect(other.status).toBe(404);
    expect((await fetch(`${api.url}/health/live`)).status).toBe(200);
  });
});

describe('the API when it cannot serve', () => {
  it('is live but not ready while Redis is unreachable, and says why as a problem', async () => {
    // Nothing listens on port 1: the readiness check fails as it would with Redis down.
    const api = await startTestApi('api_not_ready', {}, { redisUrl: 'redis://127.0.0.1:1/0' });
    try {
      expect((await fetch(`${api.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${api.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('cache-control')).toBe('no-store');
      const problem = await problemOf(ready);
      expect(problem).toMatchObject({
        code: 'not_ready',
        status: 503,
        checks: { mongodb: 'ok', redis: expect.not.stringMatching(/^ok$/), storage: 'ok' },
      });
      expect(problem.detail).toMatch(/^Redis: /);
    } finally {
      await api.close();
    }
  });
});

describe('the API with WEBHOOK_URL', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('api_default_webhook', { WEBHOOK_URL: 'https://hooks.example/default' });
  });
  afterAll(async () => {
    await api?.close();
  });

  async function webhookOf(form: FormData): Promise<unknown> {
    const response = await fetch(`${api.url}/api/upload`, { method: 'POST', body: form });
    expect(response.status).toBe(202);
    const { request_id: id } = (await response.json()) as { request_id: string };
    return ((await (await fetch(`${api.url}/api/status/${id}`)).json()) as { webhook?: unknown }).webhook;
  }

  it('sends the callback of an upload that names no webhook to WEBHOOK_URL, and of one that names its own there', async () => {
    expect(await webhookOf(csvForm(VALID_CSV))).toMatchObject({
      url: 'https://hooks.example/default',
      state: 'pending',
      attempts: 0,
    });
    expect(await webhookOf(csvForm(VALID_CSV, { webhook_url: 'https://hooks.example/own' }))).toMatchObject({
      url: 'https://hooks.example/own',
      state: 'pending',
    });
  });
});
