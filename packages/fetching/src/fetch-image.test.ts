import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressPolicy } from './address-policy.js';
import { FetchError } from './fetch-errors.js';
import { createImageFetcher } from './fetch-image.js';

let server: Server;
let base: string;
const hits: string[] = [];
let flaky = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    const path = request.url ?? '/';
    hits.push(path);
    if (path === '/ok') return response.end(Buffer.alloc(1000, 1));
    if (path === '/versioned' || path === '/to-versioned') {
      if (path === '/to-versioned') {
        response.writeHead(302, { location: '/versioned' });
        return response.end();
      }
      response.setHeader('etag', '"v2"');
      response.setHeader('last-modified', 'Tue, 24 Nov 2026 10:00:00 GMT');
      if (request.headers['if-none-match'] === '"v2"') {
        response.statusCode = 304;
        return response.end();
      }
      return response.end(Buffer.alloc(100, 2));
    }
    if (path === '/dated') {
      response.setHeader('last-modified', 'Tue, 24 Nov 2026 10:00:00 GMT');
      if (request.headers['if-modified-since'] === 'Tue, 24 Nov 2026 10:00:00 GMT') {
        response.statusCode = 304;
        return response.end();
      }
      return response.end(Buffer.alloc(100, 3));
    }
    if (path === '/odd-validator') {
      response.setHeader('etag', `"${'x'.repeat(300)}"`);
      return response.end(Buffer.alloc(100, 4));
    }
    if (path === '/unconditional-304') {
      response.statusCode = 304;
      return response.end();
    }
    if (path === '/big') return response.end(Buffer.alloc(5000, 1));
    if (path === '/big-chunked') {
      response.write(Buffer.alloc(3000, 1));
      return response.end(Buffer.alloc(3000, 1));
    }
    if (path === '/redirect') {
      response.writeHead(302, { location: '/ok' });
      return response.end();
    }
    if (path === '/no-location') {
      response.writeHead(302);
      return response.end();
    }
    if (path === '/bad-location') {
      response.writeHead(301, { location: 'http://[images.example/a.jpg' });
      return response.end();
    }
    if (path === '/loop') {
      response.writeHead(302, { location: '/loop' });
      return response.end();
    }
    if (path === '/flaky') {
      flaky += 1;
      if (flaky <= 2) {
        response.statusCode = 503;
        return response.end();
      }
      return response.end(Buffer.alloc(10, 1));
    }
    if (path === '/slow') {
      // Drips a byte every 100 ms and never ends: only a whole-download deadline stops it.
      const drip = setInterval(() => response.write('x'), 100);
      response.on('close', () => clearInterval(drip));
      return;
    }
    response.statusCode = 404;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const open = createImageFetcher({
  addressPolicy: createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: true }),
  timeoutMs: 500,
  maxBytes: 4000,
  retryBaseDelayMs: 1,
});

async function failure(promise: Promise<unknown>): Promise<FetchError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FetchError) return error;
    throw error;
  }
  throw new Error('the fetch succeeded');
}

describe('fetchImage', () => {
  it('downloads a body and follows redirects', async () => {
    expect((await open.fetchImage(`${base}/ok`)).bytes.length).toBe(1000);
    const redirected = await open.fetchImage(`${base}/redirect`);
    expect(redirected.finalUrl).toBe(`${base}/ok`);
  });

  it('refuses a body larger than allowed, declared or streamed', async () => {
    expect((await failure(open.fetchImage(`${base}/big`))).code).toBe('too_large');
    expect((await failure(open.fetchImage(`${base}/big-chunked`))).code).toBe('too_large');
  });

  it('reports HTTP errors by status and stops after too many redirects', async () => {
    expect((await failure(open.fetchImage(`${base}/missing`))).code).toBe('http_404');
    expect((await failure(open.fetchImage(`${base}/loop`))).code).toBe('too_many_redirects');
  });

  it('retries a 503 and then succeeds', async () => {
    flaky = 0;
    expect((await open.fetchImage(`${base}/flaky`)).bytes.length).toBe(10);
    expect(flaky).toBe(3);
  });

  it('gives up on a server that never finishes within the deadline', async () => {
    const started = Date.now();
    expect((await failure(open.fetchImage(`${base}/slow`))).code).toBe('fetch_timeout');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('conditional downloads', () => {
  it("returns the server's validators and skips the download when the version is still current", async () => {
    const fetched = await open.fetchImage(`${base}/versioned`);
    expect(fetched.validators).toEqual({ etag: '"v2"', lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT' });
    const unchanged = await open.fetchImageIfChanged(`${base}/versioned`, { etag: '"v2"' });
    expect(unchanged).toEqual({ notModified: true, attempts: 1 });
    const changed = await open.fetchImageIfChanged(`${base}/versioned`, { etag: '"v1"' });
    expect('bytes' in changed && changed.bytes.length).toBe(100);
    const dated = await open.fetchImageIfChanged(`${base}/dated`, {
      lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT',
    });
    expect(dated).toEqual({ notModified: true, attempts: 1 });
  });

  it('asks only about the URL itself: after a redirect the body is downloaded', async () => {
    const redirected = await open.fetchImageIfChanged(`${base}/to-versioned`, { etag: '"v2"' });
    expect('bytes' in redirected && redirected.bytes.length).toBe(100);
  });

  it('keeps no validator a header could not carry back, and refuses a 304 it did not ask for', async () => {
    expect((await open.fetchImage(`${base}/odd-validator`)).validators).toBeUndefined();
    expect((await failure(open.fetchImage(`${base}/unconditional-304`))).code).toBe('http_304');
  });
});

describe('connections and redirects that go wrong', () => {
  it('reports a redirect without a Location, or to something that is not a URL, as bad_redirect', async () => {
    const missing = await failure(open.fetchImage(`${base}/no-location`));
    expect([missing.code, missing.message, missing.retryable]).toEqual([
      'bad_redirect',
      'a 302 answer without a Location',
      false,
    ]);
    const invalid = await failure(open.fetchImage(`${base}/bad-location`));
    expect([invalid.code, invalid.message, invalid.retryable]).toEqual([
      'bad_redirect',
      'a redirect to an invalid URL',
      false,
    ]);
    expect(hits.filter((hit) => hit === '/no-location' || hit === '/bad-location')).toHaveLength(2);
  });

  it('reports a port nobody listens on as connection_error, a failure worth another attempt', async () => {
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(open.fetchImage(`http://127.0.0.1:${port}/a.jpg`));
    expect([error.code, error.message, error.retryable]).toEqual([
      'connection_error',
      'the connection failed (ECONNREFUSED)',
      true,
    ]);
  });

  it('reports a server that resets the connection as connection_error, after three attempts', async () => {
    let connections = 0;
    const resetting = createTcpServer((socket: Socket) => {
      connections += 1;
      socket.once('data', () => socket.resetAndDestroy());
    });
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = resetting.address() as AddressInfo;
      const error = await failure(open.fetchImage(`http://127.0.0.1:${port}/a.jpg`));
      expect([error.code, error.retryable]).toEqual(['connection_error', true]);
      expect(error.message).toMatch(/^the connection failed \((ECONNRESET|UND_ERR_SOCKET)\)$/);
      expect(connections).toBe(3);
    } finally {
      await new Promise((resolve) => resetting.close(resolve));
    }
  });
});
