import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf, startTestApi, type TestApi } from './support/api.js';
import { pollUntil } from './support/poll.js';
import { testRedisUrl } from './support/servers.js';

const CSV = `${CSV_HEADER}\n${[1, 2, 3, 4, 5].map((n) => `${n},Product ${n},"https://img.example/${n}a.jpg, https://img.example/${n}b.jpg"`).join('\n')}\n`;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function upload(api: TestApi, key?: string): Promise<string> {
  const response = await fetch(`${api.url}/api/upload`, {
    method: 'POST',
    body: csvForm(CSV),
    headers: key ? auth(key) : {},
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { request_id: string }).request_id;
}

describe('keys, ownership and the details of a request', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('production_keys', { API_KEYS: 'alice-key,bob-key' });
  });
  afterAll(async () => {
    await api?.close();
  });

  it("gives another key's request a 404 on every route that names it", async () => {
    const id = await upload(api, 'alice-key');
    for (const path of [
      `/api/status/${id}`,
      `/api/download/${id}`,
      `/api/requests/${id}/products`,
      `/api/status/${id}/events`,
    ]) {
      const other = await fetch(`${api.url}${path}`, { headers: auth('bob-key') });
      expect(other.status, path).toBe(404);
      expect((await problemOf(other)).code).toBe('request_not_found');
      const none = await fetch(`${api.url}${path}`);
      expect(none.status, path).toBe(401);
    }
    expect((await fetch(`${api.url}/api/status/${id}`, { headers: auth('alice-key') })).status).toBe(200);
  });

  it("pages through a request's products with a cursor", async () => {
    const id = await upload(api, 'alice-key');
    const rows: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const response = await fetch(`${api.url}/api/requests/${id}/products${query}`, {
        headers: auth('alice-key'),
      });
      expect(response.status).toBe(200);
      const page = (await response.json()) as {
        products: {
          row: number;
          product_name: string;
          images: { input_url: string; output_url: null; error: null }[];
        }[];
        next_cursor: string | null;
      };
      rows.push(...page.products.map((product) => product.row));
      expect(page.products[0]?.images[0]).toEqual({
        input_url: `https://img.example/${page.products[0]?.row}a.jpg`,
        output_url: null,
        input_bytes: null,
        output_bytes: null,
        error: null,
      });
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null);
    expect(rows).toEqual([1, 2, 3, 4, 5]);
    expect(pages).toBe(3);
  });

  it('lists the fields of an invalid query, in one error shape', async () => {
    const id = await upload(api, 'alice-key');
    const response = await fetch(`${api.url}/api/requests/${id}/products?limit=0`, {
      headers: auth('alice-key'),
    });
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.code).toBe('invalid_request');
    expect(problem.errors).toEqual([{ field: 'querystring.limit', message: expect.any(String) }]);
    const cursor = await fetch(`${api.url}/api/requests/${id}/products?cursor=abc`, {
      headers: auth('alice-key'),
    });
    expect((await problemOf(cursor)).code).toBe('invalid_cursor');
  });
});

describe('rate limits shared through Redis', () => {
  let first: TestApi;
  let second: TestApi;
  beforeAll(async () => {
    const limits = { API_KEYS: 'alice-key,bob-key', RATE_LIMIT_MAX: '6', RATE_LIMIT_WINDOW_MS: '60000' };
    const shared = { redisUrl: await testRedisUrl() };
    first = await startTestApi('production_rate_a', limits, shared);
    second = await startTestApi('production_rate_b', limits, shared);
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
  });

  it('counts one budget per key across API processes, answers 429 with Retry-After, and limits the 404 handler too', async () => {
    const statuses: number[] = [];
    for (let index = 0; index < 6; index += 1) {
      const api = index % 2 === 0 ? first : second;
      statuses.push(
        (
          await fetch(`${api.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`, {
            headers: auth('alice-key'),
          })
        ).status,
      );
    }
    expect(statuses).toEqual([404, 404, 404, 404, 404, 404]);
    const limited = await fetch(`${first.url}/api/anything-at-all`, { headers: auth('alice-key') });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await problemOf(limited)).code).toBe('rate_limited');
    expect(
      (
        await fetch(`${second.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`, {
          headers: auth('alice-key'),
        })
      ).status,
    ).toBe(429);
    // Another key has its own budget; health checks are never limited.
    expect(
      (
        await fetch(`${second.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`, {
          headers: auth('bob-key'),
        })
      ).status,
    ).toBe(404);
    expect((await fetch(`${first.url}/health/live`)).status).toBe(200);
  });
});

describe('headers, documentation, metrics and load shedding', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('production_misc', {
      CORS_ORIGINS: 'https://backoffice.example.com',
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('sends security headers, echoes or creates an x-request-id, and allows only the configured origins', async () => {
    const plain = await fetch(`${api.url}/health/live`);
    expect(plain.headers.get('x-content-type-options')).toBe('nosniff');
    // Plain HTTP (PUBLIC_BASE_URL is http): no HSTS (test/security-headers.test.ts has both cases).
    expect(plain.headers.get('strict-transport-security')).toBeNull();
    expect(plain.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const traced = await fetch(`${api.url}/health/live`, { headers: { 'x-request-id': 'client-trace-42' } });
    expect(traced.headers.get('x-request-id')).toBe('client-trace-42');

    const preflight = { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } } as const;
    const allowed = await fetch(`${api.url}/api/upload`, {
      ...preflight,
      headers: { ...preflight.headers, origin: 'https://backoffice.example.com' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://backoffice.example.com');
    const refused = await fetch(`${api.url}/api/upload`, {
      ...preflight,
      headers: { ...preflight.headers, origin: 'https://evil.example' },
    });
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('streams live progress to a page of an allowed origin, with the same security headers', async () => {
    const created = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(`${CSV_HEADER}\n1,Tote,https://img.example/1.jpg\n`),
    });
    expect(created.status).toBe(202);
    const { request_id: id } = (await created.json()) as { request_id: string };
    const aborter = new AbortController();
    try {
      const stream = await fetch(`${api.url}/api/status/${id}/events`, {
        headers: { origin: 'https://backoffice.example.com', accept: 'text/event-stream' },
        signal: aborter.signal,
      });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      // What a cross-origin EventSource needs, and what every other answer carries.
      expect(stream.headers.get('access-control-allow-origin')).toBe('https://backoffice.example.com');
      expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
      expect(stream.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      aborter.abort();
    }
  });

  it('publishes a valid OpenAPI 3.1 document of every route, with examples, and an interactive reference', async () => {
    const document = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; requestBody?: unknown }>>;
      components: { schemas: Record<string, { example?: unknown }> };
    };
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual([
      '/api/download/{requestId}',
      '/api/requests/{requestId}',
      '/api/requests/{requestId}/products',
      '/api/requests/{requestId}/retry',
      '/api/status/{requestId}',
      '/api/status/{requestId}/events',
      '/api/upload',
      '/health/live',
      '/health/ready',
      '/images/{key}',
    ]);
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const operation of Object.values(operations))
        expect(operation.summary, path).toEqual(expect.any(String));
    }
    expect(Object.keys(document.paths['/api/requests/{requestId}'] ?? {})).toEqual(['delete']);
    expect(document.paths['/api/upload']?.post?.requestBody).toMatchObject({
      content: { 'multipart/form-data': {} },
    });
    expect(JSON.stringify(document)).toContain('"example"');
    // Health checks and stored images need no key; the document says so.
    for (const path of ['/health/live', '/health/ready', '/images/{key}'])
      expect((document.paths[path]?.get as { security?: unknown })?.security, path).toEqual([]);
    expect((document.paths['/api/upload']?.post as { security?: unknown })?.security).toBeUndefined();
    const docs = await fetch(`${api.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });

  it('exposes Prometheus metrics with latency by route, never by raw URL', async () => {
    await fetch(`${api.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`);
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(text).toMatch(
      /^imgsvc_http_request_duration_seconds_bucket\{[^}]*route="\/api\/status\/:requestId"[^}]*status_code="404"/m,
    );
    expect(text).not.toContain('7d0c3c8e');
    expect(text).toContain('process_cpu_seconds_total');
  });
});

describe('load shedding', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('production_shedding', { MAX_EVENT_LOOP_DELAY_MS: '50' });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('sheds load with 503 while the event loop lags, answers its health checks throughout, and recovers', async () => {
    // The API runs in this process. For two seconds its event loop is kept busy in 150 ms slices, as a
    // CPU-bound burst would, with a breath between slices in which requests are still answered.
    const answers: { status: number; retryAfter: string | null; body: string }[] = [];
    const health: number[] = [];
    let busy = true;
    const requests = (async () => {
      while (busy) {
        const response = await fetch(`${api.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`);
        answers.push({
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: await response.text(),
        });
      }
    })();
    const probes = (async () => {
      while (busy) {
        for (const path of ['/health/live', '/health/ready']) {
          health.push((await fetch(`${api.url}${path}`)).status);
        }
      }
    })();
    for (const end = Date.now() + 2000; Date.now() < end; ) {
      const slice = Date.now() + 150;
      while (Date.now() < slice) {
        // busy
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    busy = false;
    await Promise.all([requests, probes]);
    // An orchestrator probing a busy API must not restart it: health checks are never shed.
    expect(health.length).toBeGreaterThan(2);
    expect(health.filter((status) => status !== 200)).toEqual([]);
    const shed = answers.find((answer) => answer.status === 503);
    if (!shed) throw new Error(`no 503 among ${answers.map((answer) => answer.status).join(', ')}`);
    expect(JSON.parse(shed.body).code).toBe('overloaded');
    expect(shed.retryAfter).toBe('5');
    // Once the burst is over, the same route answers normally again.
    await pollUntil(
      async () =>
        (await fetch(`${api.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`)).status === 404
          ? true
          : undefined,
      { timeoutMs: 10_000, what: 'recovered' },
    );
  });
});
