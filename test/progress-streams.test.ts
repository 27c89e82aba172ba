import { markRequestCompleted, markRequestInProgress } from '@imgsvc/db';
import { productCounts } from '@imgsvc/domain';
import { openJobState } from '@imgsvc/job-state';
import { describe, expect, it, vi } from 'vitest';
import { CSV_HEADER, csvForm, problemOf, startTestApi, type TestApi } from './support/api.js';
import { pollUntil } from './support/poll.js';

const PRODUCTS = 3;
const CSV = [
  CSV_HEADER,
  ...Array.from({ length: PRODUCTS }, (_, row) => `${row + 1},P${row},http://127.0.0.1:9/p${row}.jpg`),
].join('\n');

interface StreamBlock {
  readonly event: string | undefined;
  readonly data: string | undefined;
  readonly retry: string | undefined;
}

/** One open event stream, read in the background until it ends or is closed. */
interface OpenStream {
  readonly response: Response;
  readonly blocks: StreamBlock[];
  /** The events that carry a status, without their ids (each stream numbers its own). */
  events(): { event: string; data: string }[];
  readonly ended: Promise<void>;
  isEnded(): boolean;
  close(): Promise<void>;
}

async function openStream(api: TestApi, id: string, key?: string): Promise<OpenStream> {
  const abort = new AbortController();
  const response = await fetch(`${api.url}/api/status/${id}/events`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
    signal: abort.signal,
  });
  const blocks: StreamBlock[] = [];
  let ended = false;
  const read = async () => {
    if (!response.ok || !response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string) => new RegExp(`^${name}: ?(.*)$`, 'm').exec(block)?.[1];
        blocks.push({ event: field('event'), data: field('data'), retry: field('retry') });
      }
    }
  };
  const reading = read()
    .catch(() => undefined)
    .finally(() => {
      ended = true;
    });
  return {
    response,
    blocks,
    events: () => blocks.flatMap(({ event, data }) => (event && data !== undefined ? [{ event, data }] : [])),
    ended: reading,
    isEnded: () => ended,
    async close() {
      abort.abort();
      await reading;
    },
  };
}

async function closeAll(streams: readonly OpenStream[]): Promise<void> {
  await Promise.all(streams.map((stream) => stream.close()));
}

async function upload(api: TestApi, key?: string): Promise<string> {
  const response = await fetch(`${api.url}/api/upload`, {
    method: 'POST',
    headers: key ? { authorization: `Bearer ${key}` } : {},
    body: csvForm(CSV),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { request_id: string }).request_id;
}

/**
 * Opens `count` streams, all at once or one after another (as clients arriving over a moment would); each
 * has had its first status before this returns.
 */
async function openStreams(
  api: TestApi,
  id: string,
  count: number,
  arrival: 'at once' | 'one by one',
): Promise<OpenStream[]> {
  const streams: OpenStream[] = [];
  try {
    if (arrival === 'at once') {
      streams.push(...(await Promise.all(Array.from({ length: count }, () => openStream(api, id)))));
    } else {
      for (let opened = 0; opened < count; opened++) streams.push(await openStream(api, id));
    }
    for (const stream of streams) expect(stream.response.status).toBe(200);
    await pollUntil(async () => (streams.every((stream) => stream.events().length > 0) ? true : undefined), {
      timeoutMs: 10_000,
      what: `the first status on each of ${count} streams`,
    });
  } catch (error) {
    await closeAll(streams);
    throw error;
  }
  return streams;
}

/** Median time of `count` status calls, one after another. */
async function statusLatencyMs(api: TestApi, id: string, count: number): Promise<number> {
  const times: number[] = [];
  for (let call = 0; call < count; call++) {
    const started = performance.now();
    const response = await fetch(`${api.url}/api/status/${id}`);
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

/** Counts the reads of one request's document by the API, from now until the spy is restored. */
function countRequestReads(api: TestApi, id: string): { count(): number; restore(): void } {
  const reads = vi.spyOn(api.db.requests, 'findOne');
  return {
    count: () => reads.mock.calls.filter(([filter]) => (filter as { _id?: string })?._id === id).length,
    restore: () => reads.mockRestore(),
  };
}

describe('live progress streams (server-sent events)', () => {
  it('caps the streams one key holds open at SSE_MAX_STREAMS_PER_KEY, and a closed stream frees its slot', async () => {
    const api = await startTestApi('progress_streams_cap', {
      API_KEYS: 'stream-key-a,stream-key-b',
      SSE_MAX_STREAMS_PER_KEY: '3',
    });
    const streams: OpenStream[] = [];
    try {
      const id = await upload(api, 'stream-key-a');
      for (let count = 0; count < 3; count++) streams.push(await openStream(api, id, 'stream-key-a'));
      expect(streams.map((stream) => stream.response.status)).toEqual([200, 200, 200]);

      const refused = await openStream(api, id, 'stream-key-a');
      streams.push(refused);
      expect(refused.response.status).toBe(429);
      expect(Number(refused.response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await problemOf(refused.response)).toMatchObject({ code: 'too_many_streams' });

      // Another key has its own streams: the first key's full share does not block it.
      const otherId = await upload(api, 'stream-key-b');
      const other = await openStream(api, otherId, 'stream-key-b');
      streams.push(other);
      expect(other.response.status).toBe(200);

      await streams[0]?.close();
      const again = await pollUntil(
        async () => {
          const attempt = await openStream(api, id, 'stream-key-a');
          streams.push(attempt);
          return attempt.response.status === 200 ? attempt : undefined;
        },
        { timeoutMs: 5000, what: 'a stream in the slot a closed one freed' },
      );
      expect(again.response.status).toBe(200);
    } finally {
      await closeAll(streams);
      await api.close();
    }
  });

  it('reads a request once per interval however many streams follow it, and sends each the same progress', async () => {
    const api = await startTestApi('progress_streams_shared', { SSE_MAX_STREAMS_PER_KEY: '100' });
    let streams: OpenStream[] = [];
    try {
      const id = await upload(api);
      const reads = countRequestReads(api, id);
      const started = performance.now();
      streams = await openStreams(api, id, 50, 'at once');

      await markRequestInProgress(api.db, id);
      const progress = openJobState(api.redis, { lockMs: 2000, encodingSettings: 'test' });
      for (let row = 1; row <= PRODUCTS; row++) {
        await progress.recordProgress(id, row, productCounts(1, []));
        await pollUntil(
          async () =>
            streams.every((stream) =>
              stream.events().some((event) => event.data.includes(`"products_done":${row}`)),
            )
              ? true
              : undefined,
          { timeoutMs: 10_000, what: `products_done ${row} on every stream` },
        );
      }
      await markRequestCompleted(api.db, id, {
        products_done: PRODUCTS,
        images_succeeded: PRODUCTS,
        images_failed: 0,
        failures_by_code: {},
      });
      await pollUntil(async () => (streams.every((stream) => stream.isEnded()) ? true : undefined), {
        timeoutMs: 10_000,
        what: 'every stream ending once the request completed',
      });
      const intervals = (performance.now() - started) / 500;
      const readCount = reads.count();
      reads.restore();

      // One poller for all 50 streams, reading through the request cache: about one read per 500 ms interval.
      expect(readCount, `${readCount} reads in ${intervals.toFixed(1)} intervals`).toBeLessThanOrEqual(
        2 * Math.ceil(intervals) + 2,
      );
      const first = streams[0]?.events() ?? [];
      expect(first.at(-1)?.event).toBe('completed');
      expect(first.filter((event) => event.event === 'progress').length).toBeGreaterThanOrEqual(PRODUCTS);
      for (const stream of streams) expect(stream.events()).toEqual(first);
    } finally {
      await closeAll(streams);
      await api.close();
    }
  });

  it('keeps status answers as fast with 200 streams open as with none, and the database as quiet', async () => {
    const api = await startTestApi('progress_streams_latency', { SSE_MAX_STREAMS_PER_KEY: '500' });
    let streams: OpenStream[] = [];
    try {
      const id = await upload(api);
      await markRequestInProgress(api.db, id);
      await statusLatencyMs(api, id, 10);
      const alone = await statusLatencyMs(api, id, 50);
      const reads = countRequestReads(api, id);
      const started = performance.now();
      // One by one, so that each stream of a poller per stream would poll at its own moment.
      streams = await openStreams(api, id, 200, 'one by one');
      const withStreams = await statusLatencyMs(api, id, 50);
      const elapsedMs = performance.now() - started;
      const readCount = reads.count();
      reads.restore();

      expect(
        withStreams,
        `p50 ${withStreams.toFixed(1)} ms with 200 streams, ${alone.toFixed(1)} ms without`,
      ).toBeLessThan(3 * alone + 20);
      // Streams and status calls alike read through the request cache, which asks at most every 250 ms.
      expect(readCount, `${readCount} reads in ${elapsedMs.toFixed(0)} ms`).toBeLessThanOrEqual(
        Math.ceil(elapsedMs / 250) + 2,
      );
    } finally {
      await closeAll(streams);
      await api.close();
    }
  });

  it('ends a stream at SSE_MAX_STREAM_SECONDS with a retry hint, so the client reconnects', async () => {
    const api = await startTestApi('progress_streams_life', { SSE_MAX_STREAM_SECONDS: '1' });
    const streams: OpenStream[] = [];
    try {
      const id = await upload(api);
      const stream = await openStream(api, id);
      streams.push(stream);
      expect(stream.response.status).toBe(200);
      await pollUntil(async () => (stream.isEnded() ? true : undefined), {
        timeoutMs: 6000,
        what: 'the stream ending at its maximum life',
      });
      const last = stream.blocks.at(-1);
      expect(last).toMatchObject({ event: 'reconnect', retry: expect.stringMatching(/^\d+$/) });
      // The request is still pending: the stream ended for its age, not because the request finished.
      expect(stream.events().map((event) => event.event)).toEqual(['progress', 'reconnect']);
    } finally {
      await closeAll(streams);
      await api.close();
    }
  });
});
