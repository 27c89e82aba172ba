import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../test/support/poll.js';
import { createAddressPolicy } from './address-policy.js';
import { createImageFetcher, type ImageFetchOptions } from './fetch-image.js';

/** Each image takes this long: half the body at once, the rest at the end, like a slow host. */
const ANSWER_MS = 600;
/** Longer than two answers, shorter than three: a deadline that counted the wait for the host would end the third in line mid-body. */
const TIMEOUT_MS = 1500;

interface SlowHost {
  readonly server: Server;
  readonly base: string;
  /** Requests that reached the server, by path. */
  readonly hits: string[];
  /** Most requests the server was answering at one time. */
  mostAtOnce: number;
}

let slow: SlowHost;
let other: Server;
let otherBase: string;
const timers = new Set<NodeJS.Timeout>();

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stop(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

beforeAll(async () => {
  let answering = 0;
  const server = createServer((request, response) => {
    slow.hits.push(request.url ?? '/');
    answering += 1;
    slow.mostAtOnce = Math.max(slow.mostAtOnce, answering);
    response.on('close', () => {
      answering -= 1;
    });
    response.writeHead(200, { 'content-type': 'image/png', 'content-length': '2000' });
    response.write(Buffer.alloc(1000, 1));
    const timer = setTimeout(() => {
      timers.delete(timer);
      response.end(Buffer.alloc(1000, 1));
    }, ANSWER_MS);
    timers.add(timer);
  });
  slow = { server, base: await listen(server), hits: [], mostAtOnce: 0 };
  // Another host: a quick image, or a quick redirect to the slow host.
  other = createServer((request, response) => {
    const path = request.url ?? '/';
    if (path.startsWith('/to-slow/')) {
      response.writeHead(302, { location: `${slow.base}/${path.slice('/to-slow/'.length)}` });
      return response.end();
    }
    response.end(Buffer.alloc(10, 2));
  });
  otherBase = await listen(other);
});

afterAll(async () => {
  for (const timer of timers) clearTimeout(timer);
  await Promise.all([stop(slow?.server), stop(other)]);
});

function fetcher(overrides: Partial<ImageFetchOptions> = {}) {
  return createImageFetcher({
    addressPolicy: createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: true }),
    timeoutMs: TIMEOUT_MS,
    maxBytes: 10_000,
    // One attempt: a download that ran out of time shows as fetch_timeout instead of hiding behind a retry.
    attempts: 1,
    concurrencyPerHost: 1,
    ...overrides,
  });
}

/** Each download's outcome: its byte count, or its error code. */
async function outcomes(downloads: Promise<{ bytes: Buffer }>[]): Promise<(number | string)[]> {
  const settled = await Promise.allSettled(downloads);
  return settled.map((result) =>
    result.status === 'fulfilled'
      ? result.value.bytes.length
      : String((result.reason as { code?: unknown }).code ?? result.reason),
  );
}

describe('waiting for a slot on a busy host', () => {
  it('downloads every image of a slow host, one at a time, each within its own deadline', async () => {
    const images = fetcher();
    slow.mostAtOnce = 0;
    try {
      const urls = [1, 2, 3, 4, 5].map((n) => `${slow.base}/queued-${n}.png`);
      // Together the five take three times the deadline; each alone takes well under it.
      expect(await outcomes(urls.map((url) => images.fetchImage(url)))).toEqual([
        2000, 2000, 2000, 2000, 2000,
      ]);
      expect(slow.mostAtOnce).toBe(1);
    } finally {
      await images.close();
    }
  });

  it('does not count the wait for the host a redirect leads to', async () => {
    const images = fetcher();
    try {
      const urls = [1, 2, 3].map((n) => `${otherBase}/to-slow/redirected-${n}.png`);
      expect(await outcomes(urls.map((url) => images.fetchImage(url)))).toEqual([2000, 2000, 2000]);
    } finally {
      await images.close();
    }
  });

  it('lets an image from another host through while a slow host has images waiting', async () => {
    const images = fetcher({ concurrency: 2 });
    const finished: string[] = [];
    const track = (name: string, url: string) =>
      images.fetchImage(url).finally(() => {
        finished.push(name);
      });
    try {
      const first = track('slow-1', `${slow.base}/busy-1.png`);
      const second = track('slow-2', `${slow.base}/busy-2.png`);
      const quick = track('quick', `${otherBase}/quick.png`);
      const results = await outcomes([first, second, quick]);
      expect(finished).toEqual(['quick', 'slow-1', 'slow-2']);
      expect(results).toEqual([2000, 2000, 10]);
    } finally {
      await images.close();
    }
  });

  it('stops waiting at once when the download is cancelled, and never asks the host', async () => {
    const images = fetcher();
    try {
      const holding = images.fetchImage(`${slow.base}/holding.png`);
      await pollUntil(async () => (slow.hits.includes('/holding.png') ? true : undefined), {
        timeoutMs: 5000,
        intervalMs: 10,
        what: 'the first download to reach the host',
      });
      const cancel = new AbortController();
      const waiting = images.fetchImage(`${slow.base}/cancelled.png`, cancel.signal);
      let holdingDone = false;
      void holding.finally(() => {
        holdingDone = true;
      });
      cancel.abort(new Error('worker shutting down'));
      await expect(waiting).rejects.toThrow('worker shutting down');
      // It gave up while the host was still busy with the first download, not when its turn came.
      expect(holdingDone).toBe(false);
      expect((await holding).bytes.length).toBe(2000);
      expect(slow.hits).not.toContain('/cancelled.png');
    } finally {
      await images.close();
    }
  });
});
