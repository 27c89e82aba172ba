import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf, startTestApi, type TestApi } from './support/api.js';

interface Operation {
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

const KEY = 'openapi-key';
const auth = { authorization: `Bearer ${KEY}` };
/** Never fetched: no worker runs beside this API, so every request stays pending. */
const CSV = `${CSV_HEADER}\n1,Tote,https://img.example/1.jpg\n`;

/** The operations of the document as `METHOD path` → operation. */
function operationsOf(document: Document): Map<string, Operation> {
  const operations = new Map<string, Operation>();
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods))
      operations.set(`${method.toUpperCase()} ${path}`, operation);
  }
  return operations;
}

describe('the OpenAPI document and its reference', () => {
  let api: TestApi;
  let document: Document;
  beforeAll(async () => {
    api = await startTestApi('openapi_document', { API_KEYS: KEY });
    const answer = await fetch(`${api.url}/openapi.json`);
    expect(answer.status).toBe(200);
    document = (await answer.json()) as Document;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('names every operation with a unique, stable camelCase operationId in the words of the domain', async () => {
    const ids = Object.fromEntries(
      [...operationsOf(document)].map(([operation, { operationId }]) => [operation, operationId]),
    );
    // Generated clients name their methods after these: a change here is a change of the public contract.
    expect(ids).toEqual({
      'POST /api/upload': 'uploadCatalogue',
      'GET /api/status/{requestId}': 'getRequestStatus',
      'GET /api/status/{requestId}/events': 'streamRequestEvents',
      'GET /api/download/{requestId}': 'downloadResult',
      'GET /api/requests/{requestId}/products': 'listProducts',
      'DELETE /api/requests/{requestId}': 'deleteRequest',
      'POST /api/requests/{requestId}/retry': 'retryRequest',
      'GET /images/{key}': 'getImage',
      'GET /health/live': 'getLiveness',
      'GET /health/ready': 'getReadiness',
    });
    const names = Object.values(ids);
    for (const name of names) expect(name).toMatch(/^[a-z]+(?:[A-Z][a-z]+)*$/);
    expect(new Set(names).size).toBe(names.length);
  });

  it('types every error answer as application/problem+json with the Problem schema, and still validates', async () => {
    const errors: string[] = [];
    for (const [operation, { responses }] of operationsOf(document)) {
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) < 400) continue;
        errors.push(`${operation} ${status}`);
        expect(Object.keys(response.content ?? {}), `${operation} ${status}`).toEqual([
          'application/problem+json',
        ]);
        expect(response.content?.['application/problem+json']?.schema, `${operation} ${status}`).toEqual({
          $ref: '#/components/schemas/Problem',
        });
      }
    }
    expect(errors.length).toBeGreaterThan(40);
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('sends each error as the problem+json the document declares for that operation and status', async () => {
    const upload = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(CSV),
      headers: auth,
    });
    expect(upload.status).toBe(202);
    const { request_id: id } = (await upload.json()) as { request_id: string };
    const unknown = '7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11';
    const tooLong = 'x'.repeat(65);
    const cases: { operation: string; url: string; init?: RequestInit; status: number }[] = [
      { operation: 'GET /api/status/{requestId}', url: `/api/status/${id}`, status: 401 },
      { operation: 'GET /api/status/{requestId}', url: `/api/status/${unknown}`, status: 404 },
      { operation: 'GET /api/status/{requestId}', url: `/api/status/${tooLong}`, status: 400 },
      { operation: 'GET /api/status/{requestId}/events', url: `/api/status/${unknown}/events`, status: 404 },
      { operation: 'GET /api/download/{requestId}', url: `/api/download/${id}`, status: 409 },
      { operation: 'GET /api/download/{requestId}', url: `/api/download/${id}?format=xml`, status: 400 },
      {
        operation: 'GET /api/requests/{requestId}/products',
        url: `/api/requests/${id}/products?cursor=x`,
        status: 400,
      },
      {
        operation: 'DELETE /api/requests/{requestId}',
        url: `/api/requests/${id}`,
        init: { method: 'DELETE' },
        status: 409,
      },
      {
        operation: 'POST /api/requests/{requestId}/retry',
        url: `/api/requests/${id}/retry`,
        init: { method: 'POST' },
        status: 409,
      },
      {
        operation: 'POST /api/upload',
        url: '/api/upload',
        init: { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } },
        status: 415,
      },
      {
        operation: 'POST /api/upload',
        url: '/api/upload',
        init: { method: 'POST', body: csvForm(`${CSV_HEADER}\nx,Tote,https://img.example/1.jpg\n`) },
        status: 422,
      },
      { operation: 'GET /images/{key}', url: '/images/0000.jpg', status: 404 },
    ];
    const operations = operationsOf(document);
    for (const { operation, url, init, status } of cases) {
      const headers = status === 401 ? {} : auth;
      const answer = await fetch(`${api.url}${url}`, {
        ...init,
        headers: { ...headers, ...(init?.headers as Record<string, string> | undefined) },
      });
      expect(answer.status, url).toBe(status);
      await problemOf(answer);
      expect(Object.keys(operations.get(operation)?.responses[String(status)]?.content ?? {}), url).toEqual([
        'application/problem+json',
      ]);
    }
  });

  it('explores /openapi.json from /docs, by a path that holds under any host name', async () => {
    const page = await fetch(`${api.url}/docs/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('./static/swagger-initializer.js');
    const initializer = await fetch(`${api.url}/docs/static/swagger-initializer.js`);
    expect(initializer.status).toBe(200);
    const script = await initializer.text();
    const config = JSON.parse(/const config = (\{.*\})\n/.exec(script)?.[1] ?? 'null') as {
      urls?: { url: string; name: string }[];
    } | null;
    // Swagger UI loads `urls` instead of the plugin's own `url` (./json) whenever `urls` is given.
    expect(config?.urls?.map(({ url }) => url)).toEqual(['/openapi.json']);
    const explored = await fetch(new URL(config?.urls?.[0]?.url ?? '', `${api.url}/docs/`));
    expect(await explored.json()).toEqual(document);
  });
});
