import autocannon from 'autocannon';
import sharp from 'sharp';
import { pollUntil } from '../test/support/poll.js';
import {
  type Connections,
  faster,
  type PipelineHarness,
  pipelineHarness,
  type StatusBody,
} from './harness.js';

export interface LoadResult {
  readonly requests_per_second: number;
  readonly p99_ms: number;
  readonly errors: number;
}

export interface RunningLoadResult extends LoadResult {
  /** The running request's products done when this round began and when it ended: its answer was changing. */
  readonly products_done_from: number;
  readonly products_done_to: number;
}

export interface StatusLoadResult {
  /**
   * GET /api/status/{id} of a finished request: the API answers from its in-process cache (the document is
   * read from the database at most every 2 s), with no Redis call.
   */
  readonly finished: LoadResult;
  /**
   * GET /api/status/{id} of a request in progress: its document is read at most every 250 ms, its live counts
   * from Redis on every call, and they change as its products finish during the round.
   */
  readonly running: RunningLoadResult;
  /** GET /health/live, the same API process's cheapest route. */
  readonly bare: LoadResult;
  /** The request kept running through the measurement (all three routes are measured while it runs). */
  readonly background: {
    readonly products: number;
    readonly image_delay_ms: number;
    readonly worker_concurrency: number;
    readonly products_per_second: number;
  };
}

/** One image per product, each answered this late: the running request advances by timers, not by CPU. */
const IMAGE_DELAY_MS = 200;
const WORKER_CONCURRENCY = 2;
/** About 150 s of work at 10 products a second: more than the whole measurement, with room to spare. */
const PRODUCTS = 1500;

async function load(url: string, seconds: number): Promise<LoadResult> {
  const result = await autocannon({ url, connections: 10, duration: seconds, pipelining: 1 });
  return {
    requests_per_second: Math.round(result.requests.average),
    p99_ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function readStatus(run: PipelineHarness, id: string): Promise<StatusBody> {
  const response = await fetch(`${run.apiUrl}/api/status/${id}`);
  if (!response.ok) throw new Error(`status of ${id} answered ${response.status}`);
  return (await response.json()) as StatusBody;
}

/**
 * autocannon against GET /api/status/{id} of a finished request and of a running one, and against the API's
 * bare liveness route, on the same API process while the running request advances: `rounds` rounds of each,
 * alternated, the best of each kept. Every URL the worker fetches is on 127.0.0.1.
 */
export async function measureStatusLoad(
  connections: Connections,
  seconds: number,
  log: (message: string) => void,
  rounds = 3,
): Promise<StatusLoadResult> {
  const tiny = await sharp({
    create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 120, b: 40 } },
  })
    .png()
    .toBuffer();
  const run = await pipelineHarness(
    connections,
    `bench_status_${Date.now()}`,
    new Map([['/tiny.png', { body: tiny, type: 'image/png' }]]),
    IMAGE_DELAY_MS,
  );
  try {
    await run.startWorker({ WORKER_CONCURRENCY: String(WORKER_CONCURRENCY) });
    const finishedId = await run.upload([[`${run.imagesUrl}/tiny.png?request=finished`]]);
    await run.waitFor(finishedId, (status) => status.status === 'completed', 60_000);

    // Each product names its image by its own URL (a query string the server ignores): nothing is known of it.
    const runningId = await run.upload(
      Array.from({ length: PRODUCTS }, (_, index) => [`${run.imagesUrl}/tiny.png?product=${index + 1}`]),
    );
    const started = await pollUntil(
      async () => {
        const status = await readStatus(run, runningId);
        return status.status === 'in_progress' && status.counts.products_done > 0 ? status : undefined;
      },
      { timeoutMs: 60_000, what: 'the running request under way' },
    );
    const startedAt = performance.now();
    await load(`${run.apiUrl}/health/live`, 1);

    // Alternated, best of each: a shared machine slows down and speeds up over seconds, and the three routes
    // should see the same machine, the running request's work included.
    const best = <T extends LoadResult>(kept: T | undefined, next: T) =>
      faster(kept, next, (result) => result.requests_per_second);
    let bare: LoadResult | undefined;
    let finished: LoadResult | undefined;
    let running: RunningLoadResult | undefined;
    for (let round = 0; round < rounds; round += 1) {
      bare = best(bare, await load(`${run.apiUrl}/health/live`, seconds));
      finished = best(finished, await load(`${run.apiUrl}/api/status/${finishedId}`, seconds));
      const before = await readStatus(run, runningId);
      const measured = await load(`${run.apiUrl}/api/status/${runningId}`, seconds);
      const after = await readStatus(run, runningId);
      if (after.status !== 'in_progress') {
        throw new Error(
          `the running request finished during the measurement (${PRODUCTS} products are too few)`,
        );
      }
      if (after.counts.products_done === before.counts.products_done) {
        log('the running request made no progress during a round: its worker was starved');
      }
      running = best(running, {
        ...measured,
        products_done_from: before.counts.products_done,
        products_done_to: after.counts.products_done,
      });
    }
    const ended = await readStatus(run, runningId);
    if (!bare || !finished || !running) throw new Error('no load was measured');
    return {
      finished,
      running,
      bare,
      background: {
        products: PRODUCTS,
        image_delay_ms: IMAGE_DELAY_MS,
        worker_concurrency: WORKER_CONCURRENCY,
        products_per_second:
          Math.round(
            ((ended.counts.products_done - started.counts.products_done) /
              ((performance.now() - startedAt) / 1000)) *
              10,
          ) / 10,
      },
    };
  } finally {
    await run.close();
  }
}
