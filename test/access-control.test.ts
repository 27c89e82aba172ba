import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf, startTestApi, type TestApi } from './support/api.js';
import { exchange, multipartCsv, rawRequest } from './support/raw-http.js';

const CSV = `${CSV_HEADER}\n1,Tote,https://img.example/1.jpg\n`;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`ops:${key}`).toString('base64')}` });
const portOf = (api: TestApi) => (api.app.server.address() as AddressInfo).port;

const hex = (character: string) => character.charCodeAt(0).toString(16);

/**
 * Ways to write one path that a router, a proxy or a careless check may read differently: percent-encoded
 * letters, double encoding, absolute-form targets with any host, duplicate slashes, dot segments, trailing
 * slashes, case changes, `;` parameters, query strings and encoded slashes.
 */
function spellings(path: string, port: number): string[] {
  const [, first = '', ...rest] = path.split('/');
  const tail = rest.join('/');
  const encodeLetters = (text: string) => text.replace(/[a-z]/g, (letter) => `%${hex(letter)}`);
  return [
    path,
    `/%${hex(first[0] ?? '')}${first.slice(1)}/${tail}`,
    `/%${hex(first[0] ?? '').toUpperCase()}${first.slice(1)}/${tail}`,
    `/${first}/%${hex(tail[0] ?? '')}${tail.slice(1)}`,
    `/${encodeLetters(first)}/${encodeLetters(tail)}`,
    `/%25${hex(first[0] ?? '')}${first.slice(1)}/${tail}`,
    `http://x${path}`,
    `http://127.0.0.1:${port}${path}`,
    `https://other-host.invalid${path}`,
    `HTTP://X${path}`,
    `//${first}/${tail}`,
    `/${first}//${tail}`,
    `/./${first}/${tail}`,
    `/${first}/./${tail}`,
    `/x/../${first}/${tail}`,
    `/${first}/x/../${tail}`,
    `/%2e/${first}/${tail}`,
    `/x/%2e%2e/${first}/${tail}`,
    `${path}/`,
    `${path}/.`,
    `/${first.toUpperCase()}/${tail}`,
    path.toUpperCase(),
    `/${first};x/${tail}`,
    `/${first};/${tail}`,
    `${path};x`,
    `${path}?x=1`,
    `${path}?`,
    `/${first}%2f${tail}`,
    `/${first}%2F${tail}`,
  ];
}

/** Fastify's own route table (printRoutes), as [method, path] pairs: what the router will match. */
function routerTable(printed: string): [string, string][] {
  const routes: [string, string][] = [];
  const parents: string[] = [];
  for (const line of printed.split('\n')) {
    const branch = /^((?:│ {3}| {4})*)(?:├── |└── )(.*)$/.exec(line);
    if (!branch) continue;
    const depth = (branch[1] ?? '').length / 4;
    const [, segment = '', methods] = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(branch[2] ?? '') ?? [];
    const path = (parents[depth - 1] ?? '') + segment;
    parents[depth] = path;
    parents.length = depth + 1;
    for (const method of methods?.split(', ') ?? []) routes.push([method, path]);
  }
  return routes;
}

async function expectRefusedEverywhere(
  api: TestApi,
  method: string,
  path: string,
  credentials: Record<string, string>[],
  body?: { body: Buffer; contentType: string },
): Promise<void> {
  const answers: string[] = [];
  for (const target of spellings(path, portOf(api))) {
    for (const headers of credentials) {
      const answer = await rawRequest(
        portOf(api),
        { method, target, headers: { ...headers, ...(body ? { 'content-type': body.contentType } : {}) } },
        body?.body,
      );
      answers.push(`${answer.status} ${method} ${target} ${Object.keys(headers).length ? 'key' : 'no key'}`);
    }
  }
  const passed = answers.filter((answer) => !/^(401|404) /.test(answer));
  expect(passed, 'every spelling is refused with 401 or 404').toEqual([]);
}

describe('keys that cannot be walked around', () => {
  let api: TestApi;
  let aliceRequest: string;
  beforeAll(async () => {
    api = await startTestApi('access_control', {
      API_KEYS: 'ac-alice-key,ac-bob-key',
      ADMIN_KEYS: 'ac-operator-key',
    });
    const created = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(CSV),
      headers: bearer('ac-alice-key'),
    });
    expect(created.status).toBe(202);
    aliceRequest = ((await created.json()) as { request_id: string }).request_id;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('refuses an upload without a tenant key however its path is written, and stores nothing', async () => {
    const before = await api.stored();
    await expectRefusedEverywhere(
      api,
      'POST',
      '/api/upload',
      [{}, bearer('ac-wrong-key'), bearer('ac-operator-key'), basic('ac-wrong-key')],
      multipartCsv(CSV),
    );
    expect(await api.stored()).toEqual(before);
    expect(await api.db.requests.countDocuments({ owner: null })).toBe(0);
  });

  it("shows a tenant's request to nobody else, however its path is written", async () => {
    for (const path of [
      `/api/status/${aliceRequest}`,
      `/api/status/${aliceRequest}/events`,
      `/api/download/${aliceRequest}`,
      `/api/requests/${aliceRequest}/products`,
    ]) {
      await expectRefusedEverywhere(api, 'GET', path, [
        {},
        bearer('ac-bob-key'),
        bearer('ac-operator-key'),
        basic('ac-bob-key'),
      ]);
    }
    // Nor may anyone else delete or retry it.
    for (const [method, path] of [
      ['DELETE', `/api/requests/${aliceRequest}`],
      ['POST', `/api/requests/${aliceRequest}/retry`],
    ] as const) {
      await expectRefusedEverywhere(api, method, path, [
        {},
        bearer('ac-bob-key'),
        bearer('ac-operator-key'),
        basic('ac-bob-key'),
      ]);
    }
    const own = await fetch(`${api.url}/api/status/${aliceRequest}`, { headers: bearer('ac-alice-key') });
    expect(own.status).toBe(200);
    expect((await api.db.requests.findOne({ _id: aliceRequest }))?.deleted_at).toBeUndefined();
  });

  it('keeps the queue dashboard from tenants and from anyone without a key, however its path is written', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      await expectRefusedEverywhere(api, 'GET', path, [{}, bearer('ac-alice-key'), basic('ac-bob-key')]);
    }
    await expectRefusedEverywhere(api, 'PUT', '/admin/queues/api/queues/webhooks/pause', [
      {},
      bearer('ac-alice-key'),
    ]);
    expect(await api.queues.webhooks.isPaused()).toBe(false);
  });

  it('gives tenant keys a 404 at /admin and operators a read-only dashboard', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues?activeQueue=products&status=completed']) {
      const tenant = await fetch(`${api.url}${path}`, { headers: bearer('ac-alice-key') });
      expect(tenant.status, path).toBe(404);
      expect((await problemOf(tenant)).code).toBe('not_found');
    }
    const anonymous = await fetch(`${api.url}/admin/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="image-service operators"');

    const page = await fetch(`${api.url}/admin/queues`, { headers: basic('ac-operator-key') });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const queues = await fetch(`${api.url}/admin/queues/api/queues`, { headers: bearer('ac-operator-key') });
    expect(queues.status).toBe(200);
    const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map((queue) => queue.name);
    // Each tenant key's product queue (fair scheduling) besides the three shared ones; no key appears in a name.
    expect(names.sort()).toEqual([
      'products',
      expect.stringMatching(/^products\.[0-9a-f]{32}$/),
      expect.stringMatching(/^products\.[0-9a-f]{32}$/),
      'requests',
      'webhooks',
    ]);
    expect(names.join()).not.toMatch(/alice|bob/);

    const pause = await fetch(`${api.url}/admin/queues/api/queues/webhooks/pause`, {
      method: 'PUT',
      headers: bearer('ac-operator-key'),
    });
    expect(pause.status).toBe(403);
    expect((await problemOf(pause)).code).toBe('dashboard_read_only');
    expect(await api.queues.webhooks.isPaused()).toBe(false);
  });

  it('has every route the router knows declare who may call it; the public ones are exactly these', () => {
    const declared = api.app.routeAccessTable();
    const withoutSlash = (path: string) => (path.length > 1 ? path.replace(/\/$/, '') : path);
    const undeclared = routerTable(api.app.printRoutes({ commonPrefix: false })).filter(
      ([method, path]) =>
        !declared.some(
          (entry) =>
            entry.method === method &&
            entry.access &&
            (withoutSlash(entry.url) === withoutSlash(path) ||
              // The printed tree shows a wildcard under the longest prefix its siblings share.
              (path.endsWith('*') && entry.url.endsWith('*') && entry.url.startsWith(path.slice(0, -1)))),
        ),
    );
    expect(undeclared).toEqual([]);
    expect(declared.length).toBeGreaterThan(40);

    const urls = (access: string) =>
      [...new Set(declared.filter((entry) => entry.access === access).map((entry) => entry.url))].sort();
    expect(urls('public')).toEqual([
      '*',
      '/',
      '/assets/icon.svg',
      '/assets/site.css',
      '/assets/upload.js',
      '/docs',
      '/docs/',
      '/docs/json',
      '/docs/static/*',
      '/docs/static/index.html',
      '/docs/static/swagger-initializer.js',
      '/docs/yaml',
      '/health/live',
      '/health/ready',
      '/images/:key',
      '/openapi.json',
      '/upload',
    ]);
    expect(declared.filter((entry) => entry.url === '*').map((entry) => entry.method)).toEqual(['OPTIONS']);
    expect(urls('tenant')).toEqual([
      '/api/download/:requestId',
      '/api/requests/:requestId',
      '/api/requests/:requestId/products',
      '/api/requests/:requestId/retry',
      '/api/status/:requestId',
      '/api/status/:requestId/events',
      '/api/upload',
    ]);
    expect(urls('metrics')).toEqual(['/metrics']);
    for (const entry of declared.filter((route) => route.access?.startsWith('operator'))) {
      expect(entry.url.startsWith('/admin/queues'), entry.url).toBe(true);
      expect(entry.access, `${entry.method} ${entry.url}`).toBe(
        entry.method === 'GET' || entry.method === 'HEAD' ? 'operator' : 'operator_write',
      );
    }
  });

  it('accepts tenant keys only as Bearer tokens: a browser sends Basic credentials on its own', async () => {
    const response = await fetch(`${api.url}/api/status/${aliceRequest}`, { headers: basic('ac-alice-key') });
    expect(response.status).toBe(401);
  });

  it('answers a tenant at /admin exactly as an unknown route', async () => {
    const disguised = await fetch(`${api.url}/admin/queues`, { headers: bearer('ac-alice-key') });
    const unknown = await fetch(`${api.url}/admin/nothing-here`, { headers: bearer('ac-alice-key') });
    expect([disguised.status, unknown.status]).toEqual([404, 404]);
    const shape = async (response: Response) => {
      const { detail: _detail, instance: _instance, ...rest } = await problemOf(response);
      return {
        ...rest,
        headers: ['x-ratelimit-limit', 'www-authenticate', 'content-type'].map((name) =>
          response.headers.has(name),
        ),
      };
    };
    expect(await shape(disguised)).toEqual(await shape(unknown));
  });

  it('sends 100 Continue only once access is granted', async () => {
    const { body, contentType } = multipartCsv(CSV);
    const head = (key?: string) =>
      [
        'POST /api/upload HTTP/1.1',
        `host: 127.0.0.1:${portOf(api)}`,
        `content-type: ${contentType}`,
        `content-length: ${body.length}`,
        'expect: 100-continue',
        ...(key ? [`authorization: Bearer ${key}`] : []),
        'connection: close',
        '',
        '',
      ].join('\r\n');
    const refused = await exchange(portOf(api), Buffer.from(head()), 5000);
    expect(refused.status).toBe(401);
    // The client waits for 100 Continue before it sends the body; it comes, and then the answer.
    const granted = await new Promise<string>((resolve, reject) => {
      const socket = connect(portOf(api), '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => {
        const before = text;
        text += chunk.toString('latin1');
        if (!before.includes('100 Continue') && text.includes('100 Continue')) socket.write(body);
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.write(head('ac-alice-key'));
    });
    expect(granted).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /);
  });

  it('answers a refused upload at once and closes the connection instead of reading its body', async () => {
    const head = [
      'POST /api/upload HTTP/1.1',
      `host: 127.0.0.1:${portOf(api)}`,
      'content-type: multipart/form-data; boundary=x',
      'content-length: 104857600',
      '',
      '',
    ].join('\r\n');
    // 64 KiB of a declared 100 MiB: the answer must come, and the socket close, without the rest.
    const answer = await exchange(
      portOf(api),
      Buffer.concat([Buffer.from(head), Buffer.alloc(65_536, 'a')]),
      5000,
    );
    expect(answer.status).toBe(401);
    expect(answer.headers.connection).toBe('close');
    expect(answer.closedByServer).toBe(true);
    // Refusals carry the same security headers as every other answer.
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('operators apart from tenants', () => {
  let withoutOperators: TestApi;
  let writable: TestApi;
  beforeAll(async () => {
    withoutOperators = await startTestApi('access_no_admin', { API_KEYS: 'ac-carol-key' });
    writable = await startTestApi('access_admin_write', {
      API_KEYS: 'ac-carol-key',
      ADMIN_KEYS: 'ac-operator-key',
      ADMIN_DASHBOARD_WRITE: 'true',
      METRICS_TOKEN: 'ac-metrics-token',
      CORS_ORIGINS: 'https://backoffice.example.com',
    });
  });
  afterAll(async () => {
    await withoutOperators?.close();
    await writable?.close();
  });

  it('has no /admin at all without ADMIN_KEYS', async () => {
    for (const headers of [{}, bearer('ac-carol-key'), basic('ac-carol-key')]) {
      const response = await fetch(`${withoutOperators.url}/admin/queues`, { headers });
      expect(response.status).toBe(404);
    }
  });

  it('lets a browser on an allowed origin read why it was refused', async () => {
    const refused = await fetch(`${writable.url}/api/upload`, {
      method: 'POST',
      body: csvForm(CSV),
      headers: { origin: 'https://backoffice.example.com' },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://backoffice.example.com');
    expect((await problemOf(refused)).code).toBe('unauthorized');
  });

  it('refuses dashboard changes a browser makes on behalf of another site', async () => {
    const queue = writable.queues.webhooks;
    for (const headers of [
      { ...basic('ac-operator-key'), origin: 'https://elsewhere.example' },
      { ...basic('ac-operator-key'), 'sec-fetch-site': 'cross-site' },
      { ...basic('ac-operator-key'), 'sec-fetch-site': 'same-site' },
    ]) {
      const response = await fetch(`${writable.url}/admin/queues/api/queues/webhooks/pause`, {
        method: 'PUT',
        headers,
      });
      expect(response.status).toBe(403);
      expect((await problemOf(response)).code).toBe('cross_site_request');
    }
    expect(await queue.isPaused()).toBe(false);
    // The dashboard's own page, on the same origin, may.
    const own = await fetch(`${writable.url}/admin/queues/api/queues/webhooks/resume`, {
      method: 'PUT',
      headers: { ...basic('ac-operator-key'), origin: writable.url, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status).toBe(200);
  });

  it('lets operators pause and resume a queue only with ADMIN_DASHBOARD_WRITE', async () => {
    const queue = writable.queues.webhooks;
    try {
      const pause = await fetch(`${writable.url}/admin/queues/api/queues/webhooks/pause`, {
        method: 'PUT',
        headers: bearer('ac-operator-key'),
      });
      expect(pause.status).toBe(200);
      expect(await queue.isPaused()).toBe(true);
    } finally {
      await queue.resume();
    }
  });

  it('serves /metrics only to the bearer of METRICS_TOKEN when it is set', async () => {
    expect((await fetch(`${writable.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${writable.url}/metrics`, { headers: bearer('ac-carol-key') })).status).toBe(401);
    expect((await fetch(`${writable.url}/metrics`, { headers: bearer('ac-operator-key') })).status).toBe(401);
    const scraped = await fetch(`${writable.url}/metrics`, { headers: bearer('ac-metrics-token') });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('process_cpu_seconds_total');
    // Without a token it is open, as Prometheus scrapers expect by default; in production it is off.
    expect((await fetch(`${withoutOperators.url}/metrics`)).status).toBe(200);
    const production = await startTestApi('access_production_metrics', {
      NODE_ENV: 'production',
      API_KEYS: 'ac-carol-key',
    });
    try {
      expect((await fetch(`${production.url}/metrics`)).status).toBe(404);
    } finally {
      await production.close();
    }
  });

  it('counts refused callers against their address, so keys cannot be guessed without limit', async () => {
    // Its own Redis database: every anonymous request of the other tests here counts against 127.0.0.1.
    const limited = await startTestApi('access_guessing', {
      API_KEYS: 'ac-dave-key',
      ADMIN_KEYS: 'ac-operator-key',
      METRICS_TOKEN: 'ac-metrics-token',
      RATE_LIMIT_MAX: '5',
    });
    try {
      const statuses: number[] = [];
      for (const [index, path] of [
        '/api/upload',
        '/admin/queues',
        '/metrics',
        '/api/upload',
        '/admin/queues',
        '/api/upload',
        '/admin/queues',
      ].entries()) {
        const response = await fetch(`${limited.url}${path}`, {
          method: path === '/api/upload' ? 'POST' : 'GET',
          headers: bearer(`ac-guess-${index}`),
        });
        statuses.push(response.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      // A valid key has its own budget.
      const own = await fetch(`${limited.url}/api/status/7d0c3c8e-51a1-4d3b-9a43-0f0c1d9e2b11`, {
        headers: bearer('ac-dave-key'),
      });
      expect(own.status).toBe(404);
    } finally {
      await limited.close();
    }
  });
});
