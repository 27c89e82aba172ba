import { connect, type Socket } from 'node:net';
import { markRequestFailed } from '@imgsvc/db';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, startTestApi, type TestApi } from './support/api.js';
import { pollUntil } from './support/poll.js';
import { exchange, multipartCsv } from './support/raw-http.js';

/** Slack for a shared machine: Node checks the request timeouts at intervals, and the tests share the CPU. */
const TOLERANCE_MS = 1500;

/** A raw connection to the API that records what the server sends and when it closes the connection. */
interface Connection {
  readonly socket: Socket;
  readonly openedAt: number;
  received(): string;
  /** When the server closed (or reset) the connection; undefined while it is open. */
  closedAt(): number | undefined;
  /** Resolves with the time of closing, or undefined if the connection is still open at the deadline. */
  closed(deadlineMs: number): Promise<number | undefined>;
}

const opened: Socket[] = [];

async function openConnection(port: number): Promise<Connection> {
  const socket = connect(port, '127.0.0.1');
  opened.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const openedAt = Date.now();
  const chunks: Buffer[] = [];
  let closedAt: number | undefined;
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('error', () => {});
  const whenClosed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      closedAt ??= Date.now();
      resolve(closedAt);
    }),
  );
  return {
    socket,
    openedAt,
    received: () => Buffer.concat(chunks).toString('latin1'),
    closedAt: () => closedAt,
    closed: (deadlineMs) =>
      Promise.race([
        whenClosed,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), deadlineMs)),
      ]),
  };
}

/** Writes `chunk` every `everyMs` until the connection closes; returns the stop. */
function drip(connection: Connection, chunk: string, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (connection.closedAt() === undefined && connection.socket.writable) connection.socket.write(chunk);
  }, everyMs);
  return () => clearInterval(timer);
}

function portOf(api: TestApi): number {
  return Number(new URL(api.url).port);
}

const BOUNDARY = 'slow-client-boundary-b0d1e5';
/** The start of a multipart upload whose CSV goes on for as long as the client likes. */
const OPEN_ENDED_UPLOAD = [
  `--${BOUNDARY}`,
  'Content-Disposition: form-data; name="file"; filename="products.csv"',
  'Content-Type: text/csv',
  '',
  `${CSV_HEADER}\n1,Shoe,https://images.example.com/`,
].join('\r\n');

function uploadHead(port: number, extra: Record<string, string> = {}): string {
  const lines = [
    'POST /api/upload HTTP/1.1',
    `host: 127.0.0.1:${port}`,
    `content-type: multipart/form-data; boundary=${BOUNDARY}`,
    // What the issue saw: a client that declares 100 MB and then takes its time.
    'content-length: 104857600',
    ...Object.entries(extra).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy();
});

describe('clients that send slowly are cut off', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('slow_clients', {
      HEADERS_TIMEOUT_MS: '800',
      REQUEST_TIMEOUT_MS: '2000',
      KEEP_ALIVE_TIMEOUT_MS: '500',
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('closes a connection whose headers take longer than HEADERS_TIMEOUT_MS, with a 408 problem', async () => {
    const connection = await openConnection(portOf(api));
    connection.socket.write(`GET /health/live HTTP/1.1\r\nhost: 127.0.0.1:${portOf(api)}\r\n`);
    // A header line every 100 ms: never idle, never finished.
    const stop = drip(connection, 'x-slow: a\r\n', 100);
    try {
      const closedAt = await connection.closed(800 + TOLERANCE_MS + 3000);
      expect(closedAt, 'connection still open').toBeDefined();
      expect((closedAt as number) - connection.openedAt).toBeLessThan(800 + TOLERANCE_MS);
      expect(connection.received()).toMatch(/^HTTP\/1\.1 408 /);
      expect(connection.received()).toContain('"code":"request_too_slow"');
      expect(connection.received()).toMatch(/content-type: application\/problem\+json/i);
    } finally {
      stop();
    }
  });

  it('closes an upload that declares a large body and drips it, within REQUEST_TIMEOUT_MS', async () => {
    const connection = await openConnection(portOf(api));
    connection.socket.write(uploadHead(portOf(api)) + OPEN_ENDED_UPLOAD);
    const stop = drip(connection, 'a', 150);
    try {
      const closedAt = await connection.closed(2000 + TOLERANCE_MS + 3000);
      expect(closedAt, 'connection still open').toBeDefined();
      expect((closedAt as number) - connection.openedAt).toBeLessThan(2000 + TOLERANCE_MS);
      expect(connection.received()).toMatch(/^HTTP\/1\.1 408 /);
      // Nothing of the cut upload was stored.
      expect(await api.stored()).toMatchObject({ requests: 0, products: 0 });
    } finally {
      stop();
    }
  });

  it('closes a kept-alive connection left idle for KEEP_ALIVE_TIMEOUT_MS', async () => {
    const connection = await openConnection(portOf(api));
    connection.socket.write(`GET /health/live HTTP/1.1\r\nhost: 127.0.0.1:${portOf(api)}\r\n\r\n`);
    const answeredAt = await pollUntil(
      async () => (/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n/.test(connection.received()) ? Date.now() : undefined),
      { timeoutMs: 5000, intervalMs: 10, what: 'the answer to the first request' },
    );
    // Node adds one second to the advertised timeout before it closes, so that clients close first.
    const closedAt = await connection.closed(500 + 1000 + TOLERANCE_MS + 3000);
    expect(closedAt, 'connection still open').toBeDefined();
    expect((closedAt as number) - answeredAt).toBeLessThan(500 + 1000 + TOLERANCE_MS);
  });

  it('keeps a live progress stream open past REQUEST_TIMEOUT_MS and delivers its last event', async () => {
    const { body, contentType } = multipartCsv(`${CSV_HEADER}\n1,Shoe,https://images.example.com/a.jpg\n`);
    const accepted = await fetch(`${api.url}/api/upload`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
    expect(accepted.status).toBe(202);
    const { request_id: requestId } = (await accepted.json()) as { request_id: string };

    const connection = await openConnection(portOf(api));
    connection.socket.write(
      `GET /api/status/${requestId}/events HTTP/1.1\r\nhost: 127.0.0.1:${portOf(api)}\r\n\r\n`,
    );
    await pollUntil(async () => (connection.received().includes('event: progress') ? true : undefined), {
      timeoutMs: 5000,
      what: 'the first progress event',
    });
    // The stream stays open while twice the request timeout passes (and Node checks it many times over).
    await pollUntil(
      async () =>
        connection.closedAt() !== undefined || Date.now() - connection.openedAt > 2 * 2000 ? true : undefined,
      { timeoutMs: 10_000, what: 'twice REQUEST_TIMEOUT_MS' },
    );
    expect(connection.closedAt(), 'stream closed by the server').toBeUndefined();
    await markRequestFailed(api.db, requestId, 'ended by the test');
    await pollUntil(async () => (connection.received().includes('event: failed') ? true : undefined), {
      timeoutMs: 5000,
      what: 'the failed event on the stream',
    });
  });
});

describe('uploads in flight are capped per key and in all', () => {
  let api: TestApi;
  /** The same limits, with a long wait for a slot instead of a short one. */
  let waitingApi: TestApi;
  const limits = {
    API_KEYS: 'slots-key-a,slots-key-b',
    UPLOAD_CONCURRENCY_PER_KEY: '2',
    UPLOAD_CONCURRENCY: '3',
  };
  beforeAll(async () => {
    [api, waitingApi] = await Promise.all([
      startTestApi('upload_slots', { ...limits, UPLOAD_SLOT_WAIT_MS: '100' }),
      startTestApi('upload_slots_waiting', { ...limits, UPLOAD_SLOT_WAIT_MS: '60000' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([api?.close(), waitingApi?.close()]);
  });

  /** An upload whose body is on its way: admitted once the server invites the body with 100 Continue. */
  async function holdUpload(key: string, target = api): Promise<Connection> {
    const connection = await openConnection(portOf(target));
    connection.socket.write(
      uploadHead(portOf(target), { authorization: `Bearer ${key}`, expect: '100-continue' }),
    );
    await pollUntil(
      async () => (connection.received().startsWith('HTTP/1.1 100 Continue') ? true : undefined),
      { timeoutMs: 5000, intervalMs: 10, what: `100 Continue for ${key}` },
    );
    connection.socket.write(OPEN_ENDED_UPLOAD);
    return connection;
  }

  /**
   * An upload that sends its headers and waits for 100 Continue: the answer has to come before any of its body,
   * and without the invitation to send it (the status read is that of the first answer).
   */
  function refusedUpload(key: string) {
    return exchange(
      portOf(api),
      Buffer.from(uploadHead(portOf(api), { authorization: `Bearer ${key}`, expect: '100-continue' })),
      5000,
    );
  }

  async function smallUpload(key: string): Promise<Response> {
    const { body, contentType } = multipartCsv(`${CSV_HEADER}\n1,Shoe,https://images.example.com/a.jpg\n`);
    return fetch(`${api.url}/api/upload`, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `Bearer ${key}` },
      body,
    });
  }

  it('answers 429 too_many_uploads to a key with two uploads in flight, 503 upload_capacity once all are taken, and admits again when one ends', async () => {
    const a1 = await holdUpload('slots-key-a');
    await holdUpload('slots-key-a');

    const third = await refusedUpload('slots-key-a');
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('5');
    expect(JSON.parse(third.body)).toMatchObject({ code: 'too_many_uploads', status: 429 });
    // Refused before its body: the connection is closed rather than kept to read 100 MB.
    expect(third.closedByServer).toBe(true);
    expect(third.headers.connection).toBe('close');

    await holdUpload('slots-key-b');
    const overCapacity = await refusedUpload('slots-key-b');
    expect(overCapacity.status).toBe(503);
    expect(overCapacity.headers['retry-after']).toBe('5');
    expect(JSON.parse(overCapacity.body)).toMatchObject({ code: 'upload_capacity', status: 503 });
    expect(overCapacity.closedByServer).toBe(true);

    // A client that gives up frees its slot: key a may upload again.
    a1.socket.destroy();
    const admitted = await pollUntil(
      async () => {
        const response = await smallUpload('slots-key-a');
        return response.status === 202 ? response : undefined;
      },
      { timeoutMs: 5000, what: 'an upload admitted after one in flight ended' },
    );
    expect(admitted.status).toBe(202);
  });

  it("lets an upload past its key's limit wait for a slot (UPLOAD_SLOT_WAIT_MS) and admits it once one ends", async () => {
    const a1 = await holdUpload('slots-key-a', waitingApi);
    await holdUpload('slots-key-a', waitingApi);
    const third = await openConnection(portOf(waitingApi));
    third.socket.write(
      uploadHead(portOf(waitingApi), { authorization: 'Bearer slots-key-a', expect: '100-continue' }),
    );
    // Once the API has answered a request sent after it, it has read the third upload's head: that upload waits,
    // neither refused nor invited to send its body.
    expect((await fetch(`${waitingApi.url}/health/live`)).status).toBe(200);
    expect(third.received()).toBe('');
    a1.socket.destroy();
    await pollUntil(async () => (third.received().startsWith('HTTP/1.1 100 Continue') ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 10,
      what: 'the waiting upload invited to send its body',
    });
  });
});
