import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { createRedisConnection, openQueues } from '@imgsvc/queue';
import { csvForm } from '../test/support/api.js';
import { startHttpServer } from '../test/support/http-server.js';
import { photoLikeJpeg } from '../test/support/photos.js';
import { pollUntil } from '../test/support/poll.js';
import { apiReady, type RunningProgram, startProgram, workerReady } from '../test/support/programs.js';

export interface Connections {
  readonly mongoUrl: string;
  readonly redisUrl: string;
}

interface Harness {
  readonly apiUrl: string;
  readonly imagesUrl: string;
  startWorker(extra?: Record<string, string>): Promise<RunningProgram>;
  upload(urls: readonly string[][]): Promise<string>;
  waitFor(id: string, done: (status: StatusBody) => boolean, timeoutMs: number): Promise<StatusBody>;
  close(): Promise<void>;
}

interface StatusBody {
  status: string;
  counts: { products: number; products_done: number; images_succeeded: number; images_failed: number };
}

/** The real API and worker programs over the given servers, with photos served from a local HTTP server. */
async function harness(
  connections: Connections,
  database: string,
  photos: readonly Buffer[],
  imageDelayMs: number,
): Promise<Harness> {
  const workDir = await mkdtemp(join(tmpdir(), 'image-service-bench-workers-'));
  const images = await startHttpServer((request, response) => {
    const index = Number(/\/photo-(\d+)/.exec(request.url ?? '')?.[1]);
    const photo = photos[index];
    if (!photo) {
      response.statusCode = 404;
      response.end();
      return;
    }
    const send = () => {
      response.setHeader('content-type', 'image/jpeg');
      response.end(photo);
    };
    if (imageDelayMs > 0) setTimeout(send, imageDelayMs);
    else send();
  });
  const environment = {
    MONGO_URL: `${connections.mongoUrl}/${database}`,
    REDIS_URL: connections.redisUrl,
    STORAGE_DIR: join(workDir, 'images'),
    FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
    LOG_LEVEL: 'warn',
  };
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const api = startProgram('api', { ...environment, PORT: String(port) });
  await apiReady(apiUrl, api);
  const workers: RunningProgram[] = [];
  return {
    apiUrl,
    imagesUrl: images.url,
    async startWorker(extra = {}) {
      const worker = startProgram('worker', { ...environment, LOG_LEVEL: 'info', ...extra });
      workers.push(worker);
      await workerReady(worker);
      return worker;
    },
    async upload(urls) {
      const rows = urls.map((cell, index) => `${index + 1},Product ${index + 1},"${cell.join(', ')}"`);
      const csv = ['S. No.,Product Name,Input Image Urls', ...rows].join('\n');
      const response = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv) });
      if (response.status !== 202)
        throw new Error(`upload answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { request_id: string }).request_id;
    },
    async waitFor(id, done, timeoutMs) {
      return pollUntil(
        async () => {
          const response = await fetch(`${apiUrl}/api/status/${id}`);
          if (!response.ok) return undefined;
          const status = (await response.json()) as StatusBody;
          return done(status) ? status : undefined;
        },
        { timeoutMs, intervalMs: 25, what: `request ${id}` },
      );
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
      await api.stop('SIGKILL');
      await images.close();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

export async function benchPhotos(count: number, width: number, height: number): Promise<Buffer[]> {
  const photos: Buffer[] = [];
  for (let index = 0; index < count; index += 1)
    photos.push(await photoLikeJpeg(width, height, 9000 + index));
  return photos;
}

export interface ThroughputResult {
  readonly workers: number;
  readonly images: number;
  readonly seconds: number;
  readonly images_per_second: number;
}

/**
 * Images per second through the whole pipeline: upload to completed, with `workers` worker processes, every
 * image distinct (nothing is skipped as already known), two images per product.
 */
export async function measureThroughput(
  connections: Connections,
  workers: number,
  photos: readonly Buffer[],
): Promise<ThroughputResult> {
  const run = await harness(connections, `bench_throughput_${workers}`, photos, 0);
  try {
    for (let index = 0; index < workers; index += 1) await run.startWorker();
    const urls: string[][] = [];
    for (let index = 0; index < photos.length; index += 2) {
      urls.push(
        [`${run.imagesUrl}/photo-${index}.jpg`, `${run.imagesUrl}/photo-${index + 1}.jpg`].slice(
          0,
          photos.length - index,
        ),
      );
    }
    const started = performance.now();
    const id = await run.upload(urls);
    const finished = await run.waitFor(
      id,
      (status) => status.status === 'completed' || status.status === 'failed',
      600_000,
    );
    const seconds = (performance.now() - started) / 1000;
    if (finished.counts.images_succeeded !== photos.length) {
      throw new Error(`only ${finished.counts.images_succeeded} of ${photos.length} images succeeded`);
    }
    return {
      workers,
      images: photos.length,
      seconds: Math.round(seconds * 100) / 100,
      images_per_second: Math.round((photos.length / seconds) * 10) / 10,
    };
  } finally {
    await run.close();
  }
}

export interface RecoveryResult {
  /** Product jobs the killed worker was running. */
  readonly jobs_held: number;
  /** From SIGKILL until every one of them was running again on the other worker. */
  readonly recovery_seconds: number;
  readonly lock_ms: number;
  readonly stalled_interval_ms: number;
}

/**
 * Two workers share a request; one is killed with SIGKILL while it holds jobs. Measures how long its jobs stay
 * orphaned, with the default JOB_LOCK_MS and JOB_STALLED_INTERVAL_MS.
 */
export async function measureRecovery(
  connections: Connections,
  photos: readonly Buffer[],
): Promise<RecoveryResult> {
  // Slow images keep the victim's jobs running from the moment they are listed until the kill.
  const run = await harness(connections, 'bench_recovery', photos, 8000);
  const redis = createRedisConnection(connections.redisUrl, 'producer');
  const queues = openQueues(redis);
  try {
    const victim = await run.startWorker();
    const urls = photos.slice(0, 6).map((_, index) => [`${run.imagesUrl}/photo-${index}.jpg`]);
    const id = await run.upload(urls);
    // The victim is the only worker yet: every active job is its own.
    await pollUntil(async () => ((await queues.products.getActiveCount()) >= 2 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'jobs running',
    });
    const held = await queues.products.getActive();
    await run.startWorker();
    const killed = Date.now();
    await victim.stop('SIGKILL');
    const recovered = await pollUntil(
      async () => {
        const states = await Promise.all(
          held.map(async (job) => {
            const current = await queues.products.getJob(job.id ?? '');
            return !current || (current.processedOn ?? 0) > killed
              ? Math.max(current?.processedOn ?? Date.now(), killed)
              : undefined;
          }),
        );
        return states.every((state) => state !== undefined) ? Math.max(...(states as number[])) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 20, what: 'orphaned jobs running again' },
    );
    await run.waitFor(id, (status) => status.status === 'completed', 120_000);
    return {
      jobs_held: held.length,
      recovery_seconds: Math.round((recovered - killed) / 100) / 10,
      lock_ms: 6000,
      stalled_interval_ms: 2000,
    };
  } finally {
    await queues.close();
    await redis.quit();
    await run.close();
  }
}
