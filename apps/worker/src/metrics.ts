import { IMAGE_FAILURE_REASONS } from '@imgsvc/domain';
import type { Queues } from '@imgsvc/queue';
import type { ImageStore } from '@imgsvc/storage';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly jobs: Counter<'queue' | 'name' | 'outcome'>;
  readonly imageBytes: Counter<'direction'>;
  readonly imageSeconds: Histogram<'outcome'>;
  /** Jobs put back because the storage could not take images, by the storage's fault. */
  readonly storageUnavailable: Counter<'reason'>;
  /** Counts images that ended failed, one per code given (each an image's failure code). */
  countImageFailures(codes: readonly string[]): void;
}

/**
 * A failure code as a label value: the catalogue's codes and `http_<status>` only, so that no URL, message or
 * other unbounded text can ever become a series of its own.
 */
export function failureCodeLabel(code: string): string {
  return Object.hasOwn(IMAGE_FAILURE_REASONS, code) || /^http_[1-5]\d\d$/.test(code) ? code : 'unknown';
}

/**
 * The worker's Prometheus metrics: jobs by name and outcome, image bytes in and out, time per image, failed
 * images by code, queue depths, and the storage: its free space and the jobs that waited for it. Ours are named
 * `imgsvc_…`; the process and Node.js metrics keep their standard names, which Node.js dashboards expect.
 */
export function createWorkerMetrics(
  queues: Queues,
  store: Pick<ImageStore, 'space'>,
  /** The tenants' product queues, counted together under `products`. */
  productQueues: () => Promise<readonly string[]> = async () => [],
): WorkerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ program: 'worker' });
  // Under prom-client's standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes…), not ours.
  // The event-loop delay is sampled every 100 ms rather than prom-client's 10 ms: an idle process is woken
  // 10 times a second for it instead of 100 (about 2 ms of CPU a second saved), and a delay worth a metric
  // lasts longer than that.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const jobs = new Counter({
    name: 'imgsvc_jobs_total',
    help: 'Jobs finished by this worker, by queue, job name and outcome (completed or failed).',
    labelNames: ['queue', 'name', 'outcome'] as const,
    registers: [registry],
  });
  const imageBytes = new Counter({
    name: 'imgsvc_image_bytes_total',
    help: 'Image bytes downloaded (in) and written after compression (out).',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  const imageSeconds = new Histogram({
    name: 'imgsvc_image_processing_seconds',
    help: 'Time per image: download, checks, compression and storage, by outcome (stored, reused, unchanged: a 304 saved the download, failed).',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const storageUnavailable = new Counter({
    name: 'imgsvc_storage_unavailable_total',
    help: 'Jobs put back to wait because the storage could not take images (storage_full, storage_low_space: below STORAGE_MIN_FREE_BYTES, storage_read_only, storage_missing…); no attempt is used.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const imageFailures = new Counter({
    name: 'imgsvc_image_failures_total',
    help: `Images that ended failed, by failure code, counted when their product is recorded: ${Object.keys(IMAGE_FAILURE_REASONS).join(', ')}, or http_<status> (the image server answered with that error status).`,
    labelNames: ['code'] as const,
    registers: [registry],
  });
  // Every catalogue code is shown from the start, at 0, so that a rate over it exists before its first failure.
  for (const code of Object.keys(IMAGE_FAILURE_REASONS)) imageFailures.inc({ code }, 0);
  const { space } = store;
  if (space) {
    new Gauge({
      name: 'imgsvc_storage_free_bytes',
      help: 'Free bytes on the storage under STORAGE_DIR, read when scraped (0 when it cannot be read).',
      registers: [registry],
      async collect() {
        this.set(
          await space().then(
            (current) => current.freeBytes,
            () => 0,
          ),
        );
      },
    });
  }
  const states = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'waiting-children'] as const;
  new Gauge({
    name: 'imgsvc_queue_jobs',
    help: "Jobs in each queue, by state, read from Redis when scraped (every tenant's products together).",
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const products = new Set([queues.products.name, ...(await productQueues())]);
      const queued = [
        ['requests', [queues.requests]],
        ['products', [...products].map((name) => queues.productQueue(name))],
        ['webhooks', [queues.webhooks]],
      ] as const;
      for (const [name, members] of queued) {
        const totals = Object.fromEntries(states.map((state) => [state, 0]));
        for (const queue of members) {
          const counts = await queue.getJobCounts(...states);
          for (const state of states) totals[state] = (totals[state] ?? 0) + (counts[state] ?? 0);
        }
        for (const [state, count] of Object.entries(totals)) this.set({ queue: name, state }, count);
      }
    },
  });
  return {
    registry,
    jobs,
    imageBytes,
    imageSeconds,
    storageUnavailable,
    countImageFailures(codes) {
      for (const code of codes) imageFailures.inc({ code: failureCodeLabel(code) });
    },
  };
}
