import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAddressPolicy, createImageFetcher } from '@imgsvc/fetching';
import { Agent, request } from 'undici';
import { photoLikeJpeg } from '../test/support/photos.js';

export interface FetchOverheadResult {
  readonly images: number;
  readonly image_kb: number;
  /** Connections kept alive: the guard's work is the per-request checks and limits. */
  readonly plain_ms_per_image: number;
  readonly guarded_ms_per_image: number;
  readonly overhead_us_per_image: number;
  /** The server closes every connection: each image also costs a DNS lookup and an address check. */
  readonly plain_new_connection_ms_per_image: number;
  readonly guarded_new_connection_ms_per_image: number;
  readonly new_connection_overhead_us_per_image: number;
}

/**
 * The cost of the address guard, redirect handling, size limits, deadline and concurrency limits, against a
 * plain keep-alive undici GET of the same image from the same loopback server, by host name (so the guarded
 * side resolves and checks addresses for every new connection). Rounds alternate to share any drift.
 */
export async function measureFetchOverhead(images: number): Promise<FetchOverheadResult> {
  const body = await photoLikeJpeg(800, 600, 42);
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'image/jpeg');
    if (request.url?.includes('close')) response.setHeader('connection', 'close');
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://localhost:${(server.address() as AddressInfo).port}`;
  let url = `${base}/photo.jpg`;

  const plainAgent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });
  const plain = async () => {
    const response = await request(url, { dispatcher: plainAgent });
    await response.body.arrayBuffer();
  };
  // The real setting, opening only the loopback server: every other address is judged as in production.
  const fetcher = createImageFetcher({
    addressPolicy: createAddressPolicy({
      allowNetworks: ['127.0.0.1/32', '::1/128'],
      allowPrivateNetworks: false,
    }),
    timeoutMs: 15_000,
    maxBytes: 26_214_400,
    concurrencyPerHost: 4,
  });
  const guarded = async () => {
    await fetcher.fetchImage(url);
  };

  const time = async (task: () => Promise<void>, count: number) => {
    const started = performance.now();
    for (let index = 0; index < count; index += 1) await task();
    return performance.now() - started;
  };
  const compare = async () => {
    await time(plain, 20);
    await time(guarded, 20);
    let plainMs = 0;
    let guardedMs = 0;
    const rounds = 5;
    for (let round = 0; round < rounds; round += 1) {
      plainMs += await time(plain, images / rounds);
      guardedMs += await time(guarded, images / rounds);
    }
    return { plainMs, guardedMs };
  };
  const { plainMs, guardedMs } = await compare();
  url = `${base}/photo.jpg?close`;
  const cold = await compare();
  await Promise.all([plainAgent.close(), fetcher.close()]);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  return {
    images,
    image_kb: Math.round(body.length / 1024),
    plain_ms_per_image: round3(plainMs / images),
    guarded_ms_per_image: round3(guardedMs / images),
    overhead_us_per_image: Math.round(((guardedMs - plainMs) / images) * 1000),
    plain_new_connection_ms_per_image: round3(cold.plainMs / images),
    guarded_new_connection_ms_per_image: round3(cold.guardedMs / images),
    new_connection_overhead_us_per_image: Math.round(((cold.guardedMs - cold.plainMs) / images) * 1000),
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
