import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressPolicy } from './address-policy.js';
import { FetchError } from './fetch-errors.js';
import { createImageFetcher, retryAfterMs } from './fetch-image.js';
import { checkUrlTarget, type HostLookup } from './guarded-agent.js';

interface Target {
  readonly server: Server;
  readonly hits: string[];
  readonly port: number;
  inFlight: number;
  maxInFlight: number;
}

async function listen(
  host: string,
  handler: (request: IncomingMessage, response: ServerResponse, target: Target) => void,
): Promise<Target> {
  const target: Target = { server: createServer(), hits: [], port: 0, inFlight: 0, maxInFlight: 0 };
  target.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    target.hits.push(request.url ?? '');
    target.inFlight += 1;
    target.maxInFlight = Math.max(target.maxInFlight, target.inFlight);
    response.on('close', () => {
      target.inFlight -= 1;
    });
    handler(request, response, target);
  });
  await new Promise<void>((resolve) => target.server.listen(0, host, resolve));
  (target as { port: number }).port = (target.server.address() as AddressInfo).port;
  return target;
}

async function failure(promise: Promise<unknown>): Promise<FetchError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FetchError) return error;
    throw error;
  }
  throw new Error('the fetch succeeded');
}

// Only loopback addresses are real targets. 127.0.0.2 stands in for a public server: FETCH_ALLOW_NETWORKS opens
// that one address, and the guard judges every other address as it would in production.
const PUBLIC_STAND_IN = '127.0.0.2';
const standInOpen = createAddressPolicy({
  allowNetworks: [`${PUBLIC_STAND_IN}/32`],
  allowPrivateNetworks: false,
});
const privateAlias = createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: true });
let victim: Target;
let publicServer: Target;
let retryAfterCalls = 0;

beforeAll(async () => {
  victim = await listen('127.0.0.1', (_request, response) => response.end('secret'));
  publicServer = await listen(PUBLIC_STAND_IN, (request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/to-victim') {
      response.writeHead(302, { location: `http://127.0.0.1:${victim.port}/admin` });
      return response.end();
    }
    if (url.pathname === '/to-localhost') {
      response.writeHead(301, { location: `http://localhost:${victim.port}/admin` });
      return response.end();
    }
    if (url.pathname === '/to-file') {
      response.writeHead(302, { location: 'file:///etc/passwd' });
      return response.end();
    }
    if (url.pathname === '/hop') {
      const left = Number(url.searchParams.get('left'));
      response.writeHead(302, { location: left > 0 ? `/hop?left=${left - 1}` : '/image' });
      return response.end();
    }
    if (url.pathname === '/retry-after') {
      retryAfterCalls += 1;
      if (retryAfterCalls === 1) {
        response.writeHead(429, { 'retry-after': url.searchParams.get('seconds') ?? '1' });
        return response.end();
      }
    }
    if (url.pathname === '/slow-image') {
      setTimeout(() => response.end('image'), 150);
      return;
    }
    response.end('image');
  });
});

afterAll(async () => {
  for (const target of [victim, publicServer]) {
    target.server.closeAllConnections();
    await new Promise((resolve) => target.server.close(resolve));
  }
});

const guarded = (overrides: Partial<Parameters<typeof createImageFetcher>[0]> = {}) =>
  createImageFetcher({
    addressPolicy: standInOpen,
    timeoutMs: 2000,
    maxBytes: 1000,
    retryBaseDelayMs: 1,
    ...overrides,
  });

/** A resolver that fails as getaddrinfo does: no such name (ENOTFOUND), or no answer for now (EAI_AGAIN). */
function failingLookup(code: 'ENOTFOUND' | 'EAI_AGAIN'): HostLookup {
  return (hostname, _options, callback) =>
    callback(Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code }), []);
}

/** The guard's verdict on a URL written with an address, decided without any connection. */
function urlRefusal(url: string, policy = standInOpen): FetchError | undefined {
  try {
    checkUrlTarget(new URL(url), policy);
  } catch (error) {
    if (error instanceof FetchError) return error;
    throw error;
  }
  return undefined;
}

describe('the address guard', () => {
  // Spellings of loopback: were the guard to let one through, it would reach only the victim on 127.0.0.1.
  it.each([
    '127.0.0.1',
    '2130706433',
    '0x7f000001',
    '017700000001',
    '0x7f.0.0.1',
    '0177.0.0.1',
    '127.1',
    '127.0.1',
    '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]',
    '[0:0:0:0:0:ffff:127.0.0.1]',
    '[::1]',
    'localhost',
    'LocalHost',
  ])(
    'refuses %s without connecting, and tells the client only that the host is not allowed',
    async (host) => {
      const fetcher = guarded({ timeoutMs: 1000 });
      const before = victim.hits.length;
      const error = await failure(fetcher.fetchImage(`http://${host}:${victim.port}/admin`));
      expect(error.code).toBe('blocked_address');
      expect(error.message).toBe('the host is not allowed');
      expect(error.retryable).toBe(false);
      // Where the host led is for the server's log only.
      expect(error.detail).toMatch(/127\.0\.0\.1|::1|7f00:1/);
      expect(victim.hits.length).toBe(before);
      await fetcher.close();
    },
  );

  it('answers a name that does not exist exactly as one that resolves to a refused address', async () => {
    const fetcher = guarded({ timeoutMs: 1000 });
    const refused = await failure(fetcher.fetchImage(`http://localhost:${victim.port}/x.jpg`));
    // No name is looked up for real: the resolver answers "no such name" as DNS would for an unknown host.
    const unknown = guarded({ timeoutMs: 1000, lookup: failingLookup('ENOTFOUND') });
    try {
      const missing = await failure(unknown.fetchImage('http://no-such-host.internal.test/x.jpg'));
      expect([missing.code, missing.message, missing.retryable]).toEqual([
        refused.code,
        refused.message,
        refused.retryable,
      ]);
      expect(missing.detail).toBe('no-such-host.internal.test does not resolve (ENOTFOUND)');
    } finally {
      await Promise.all([fetcher.close(), unknown.close()]);
    }
  });

  it('reports a resolver that cannot answer for now as dns_error, after trying again', async () => {
    const calls: string[] = [];
    const fetcher = guarded({
      timeoutMs: 1000,
      attempts: 3,
      lookup: (hostname, options, callback) => {
        calls.push(hostname);
        failingLookup('EAI_AGAIN')(hostname, options, callback);
      },
    });
    try {
      const error = await failure(
        fetcher.fetchImage(`http://images.example.test:${publicServer.port}/a.jpg`),
      );
      expect([error.code, error.message, error.retryable]).toEqual([
        'dns_error',
        'the host name could not be resolved right now',
        true,
      ]);
      expect(calls).toEqual(Array(3).fill('images.example.test'));
    } finally {
      await fetcher.close();
    }
  });

  it('uses the answer of a resolver that recovers between attempts', async () => {
    let calls = 0;
    const fetcher = guarded({
      timeoutMs: 1000,
      attempts: 3,
      lookup: (hostname, options, callback) => {
        calls += 1;
        if (calls < 3) failingLookup('EAI_AGAIN')(hostname, options, callback);
        else callback(null, [{ address: PUBLIC_STAND_IN, family: 4 }]);
      },
    });
    try {
      const fetched = await fetcher.fetchImage(`http://images.example.test:${publicServer.port}/a.jpg`);
      expect([fetched.bytes.toString(), fetched.attempts]).toEqual(['image', 3]);
    } finally {
      await fetcher.close();
    }
  });

  // Addresses off loopback are only classified here: a test never connects to them, guard or no guard.
  it.each([
    '0.0.0.0',
    '0',
    '[::]',
    '10.0.0.1',
    '172.16.0.1',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '[fe80::1]',
    '[fc00::1]',
    '[::127.0.0.1]',
    '[::7f00:1]',
    '[64:ff9b::a00:1]',
    '[2002:a9fe:a9fe::1]',
  ])('refuses a URL written as %s', (host) => {
    const error = urlRefusal(`http://${host}/admin`);
    expect(error?.code).toBe('blocked_address');
    expect(error?.message).toBe('the host is not allowed');
  });

  it('keeps metadata and link-local addresses shut when FETCH_ALLOW_PRIVATE_NETWORKS is on', () => {
    for (const host of [
      '169.254.169.254',
      '169.254.170.2',
      '[fd00:ec2::254]',
      '[fe80::1]',
      '[::ffff:a9fe:a9fe]',
    ]) {
      expect(urlRefusal(`http://${host}/latest/meta-data/`, privateAlias)?.code, host).toBe(
        'blocked_address',
      );
    }
    expect(urlRefusal('http://10.1.2.3/', privateAlias)).toBeUndefined();
    expect(urlRefusal('http://[fd12::1]/', privateAlias)).toBeUndefined();
  });

  it('refuses IPv4-compatible IPv6 whatever the allow-list says', () => {
    const everything = createAddressPolicy({
      allowNetworks: ['0.0.0.0/0', '::/0'],
      allowPrivateNetworks: true,
    });
    for (const host of ['[::127.0.0.1]', '[::7f00:1]', '[::a9fe:a9fe]']) {
      expect(urlRefusal(`http://${host}/`, everything)?.code, host).toBe('blocked_address');
    }
  });

  it('checks every redirect: a public server cannot send it into a blocked range', async () => {
    const fetcher = guarded();
    const before = victim.hits.length;
    for (const path of ['/to-victim', '/to-localhost']) {
      expect(
        (await failure(fetcher.fetchImage(`http://${PUBLIC_STAND_IN}:${publicServer.port}${path}`))).code,
      ).toBe('blocked_address');
    }
    expect(victim.hits.length).toBe(before);
    expect(
      (await failure(fetcher.fetchImage(`http://${PUBLIC_STAND_IN}:${publicServer.port}/to-file`))).code,
    ).toBe('unsupported_protocol');
    await fetcher.close();
  });

  it('follows up to 5 redirects and refuses the sixth', async () => {
    const fetcher = guarded();
    const base = `http://${PUBLIC_STAND_IN}:${publicServer.port}`;
    expect((await fetcher.fetchImage(`${base}/hop?left=4`)).bytes.toString()).toBe('image');
    expect((await failure(fetcher.fetchImage(`${base}/hop?left=5`))).code).toBe('too_many_redirects');
    await fetcher.close();
  });

  it('reaches loopback by name when FETCH_ALLOW_PRIVATE_NETWORKS is on', async () => {
    const open = createImageFetcher({ addressPolicy: privateAlias, timeoutMs: 1000, maxBytes: 1000 });
    expect((await open.fetchImage(`http://localhost:${victim.port}/x`)).bytes.toString()).toBe('secret');
    await open.close();
  });
});

describe('retries and politeness', () => {
  it('honours Retry-After, and caps it', async () => {
    const fetcher = guarded();
    const base = `http://${PUBLIC_STAND_IN}:${publicServer.port}`;
    retryAfterCalls = 0;
    let started = Date.now();
    const fetched = await fetcher.fetchImage(`${base}/retry-after?seconds=1`);
    expect(fetched.attempts).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);

    const capped = guarded({ retryMaxDelayMs: 50 });
    retryAfterCalls = 0;
    started = Date.now();
    expect((await capped.fetchImage(`${base}/retry-after?seconds=3600`)).attempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(3000);
    await Promise.all([fetcher.close(), capped.close()]);
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString(), Date.now())).toBeGreaterThan(3000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('keeps at most FETCH_CONCURRENCY_PER_HOST downloads open to one host', async () => {
    const fetcher = guarded({ concurrencyPerHost: 2, concurrency: 10 });
    publicServer.maxInFlight = 0;
    const urls = Array.from(
      { length: 8 },
      (_, n) => `http://${PUBLIC_STAND_IN}:${publicServer.port}/slow-image?n=${n}`,
    );
    const results = await Promise.all(urls.map((url) => fetcher.fetchImage(url)));
    expect(results.every((result) => result.bytes.toString() === 'image')).toBe(true);
    expect(publicServer.maxInFlight).toBe(2);
    await fetcher.close();
  });

  it('keeps at most FETCH_CONCURRENCY downloads open in all', async () => {
    const fetcher = guarded({ concurrencyPerHost: 10, concurrency: 3 });
    publicServer.maxInFlight = 0;
    const urls = Array.from(
      { length: 9 },
      (_, n) => `http://${PUBLIC_STAND_IN}:${publicServer.port}/slow-image?all=${n}`,
    );
    await Promise.all(urls.map((url) => fetcher.fetchImage(url)));
    expect(publicServer.maxInFlight).toBe(3);
    await fetcher.close();
  });
});
