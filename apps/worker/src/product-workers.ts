import { Semaphore } from '@imgsvc/fetching';
import type { JobState } from '@imgsvc/job-state';
import type { Logger } from '@imgsvc/logging';
import { isProductQueueName, type Queues } from '@imgsvc/queue';
import { type Job, Worker, type WorkerOptions } from 'bullmq';
import type { JobProcessor } from './job-runner.js';

export interface ProductWorkersOptions {
  readonly queues: Queues;
  readonly registry: Pick<JobState, 'productQueues'>;
  /** Runs one product job; called once the job holds one of the process's slots. */
  readonly processor: (
    run: JobProcessor,
  ) => (job: Job, token?: string, cancel?: AbortSignal) => Promise<unknown>;
  readonly run: JobProcessor;
  /** BullMQ's options for every product queue's worker (connection, locks, stalled jobs). */
  readonly workerOptions: Omit<WorkerOptions, 'concurrency' | 'autorun'>;
  /** Product jobs at once in this process, all tenants together (WORKER_CONCURRENCY). */
  readonly slots: number;
  /** Product jobs of one tenant at once in this process (WORKER_CONCURRENCY_PER_KEY). */
  readonly slotsPerTenant: number;
  /** Called for every BullMQ worker started, to attach the process's event handlers. */
  readonly onWorker: (worker: Worker) => void;
  readonly log: Logger;
  /** How often the registry is read for queues with work and without a worker here. */
  readonly discoveryMs?: number;
  /** How long a tenant's worker stays open with nothing to do. */
  readonly idleMs?: number;
}

export interface ProductWorkers {
  /** Resolves once the queues served now are being listened to. */
  ready(): Promise<void>;
  /** The queues served now. */
  serving(): string[];
  /**
   * Serves a queue this process has just given work (its own fan-out) at once, rather than at the next read of
   * the registry, up to `discoveryMs` later: a tenant's first products start as soon as they are queued.
   */
  serveNow(name: string): void;
  /** Stops taking jobs and waits for the running ones (see `cancel`). */
  close(): Promise<void>;
  /** Hands every running job back to its queue (a shutdown past its grace period). */
  cancel(reason: string): void;
}

interface Served {
  readonly worker: Worker;
  /** This queue's jobs under way here, and when one last ended. */
  readonly load: { running: number; lastBusyAt: number };
}

/**
 * Fair scheduling between tenants. Each tenant's products wait in a queue of their own (`productQueueName`),
 * so a backlog is only ever ahead of its own tenant's work. This process serves every queue that has work with
 * a BullMQ worker of its own, whose concurrency (`slotsPerTenant`) is less than the process's slots: whatever a
 * tenant's backlog and however slow its images' hosts, a slot is left for the others, and every queue that has
 * work has a job in progress or next in line for a slot. Jobs that hold a tenant's place wait for a slot in
 * arrival order (a FIFO semaphore), so tenants with work take turns.
 *
 * The registry in Redis names the queues given work; a queue seen there with jobs waiting (or active: a job
 * whose process died is found stalled only by a worker of its queue) gets a worker within `discoveryMs`, and a
 * worker whose queue has had nothing for it for `idleMs` is closed.
 */
export function startProductWorkers(options: ProductWorkersOptions): ProductWorkers {
  const discoveryMs = options.discoveryMs ?? 1000;
  const idleMs = options.idleMs ?? 60_000;
  const slots = new Semaphore(options.slots);
  const served = new Map<string, Served>();
  /** Workers of idle queues being closed: a close that fails is logged, never left unhandled. */
  const closing = new Set<Promise<void>>();
  const closeIdle = (name: string, worker: Worker) => {
    const done: Promise<void> = worker
      .close()
      .catch((error: unknown) => {
        options.log.warn(
          { queue: name, reason: (error as Error).message },
          'product queue worker not closed',
        );
      })
      .finally(() => closing.delete(done));
    closing.add(done);
  };
  let stopped = false;

  const serve = (name: string) => {
    const load = { running: 0, lastBusyAt: Date.now() };
    // A job holds its tenant's place from the moment BullMQ gives it, and one of the process's slots while it
    // runs; it counts as this queue's work until it ends, however it ends (done, failed, put back to wait).
    const run: JobProcessor = async (job, token, cancel) => {
      load.running += 1;
      try {
        const release = await slots.acquire(cancel);
        try {
          return await options.run(job, token, cancel);
        } finally {
          release();
        }
      } finally {
        load.running -= 1;
        load.lastBusyAt = Date.now();
      }
    };
    const worker = new Worker(name, options.processor(run), {
      ...options.workerOptions,
      concurrency: options.slotsPerTenant,
    });
    options.onWorker(worker);
    served.set(name, { worker, load });
    options.log.debug({ queue: name }, 'serving product queue');
  };

  // Jobs waiting, prioritized, delayed or active. Active ones count: a job whose worker process died stays
  // active until a worker of its queue notices it stalled, and only a worker of its queue ever will.
  const hasWork = async (name: string) => {
    const counts = await options.queues
      .productQueue(name)
      .getJobCounts('active', 'waiting', 'prioritized', 'delayed');
    return Object.values(counts).some((count) => count > 0);
  };

  const discover = async () => {
    const now = Date.now();
    for (const [name, entry] of served) {
      if (name === options.queues.products.name) continue;
      if (entry.load.running > 0 || now - entry.load.lastBusyAt < idleMs) continue;
      if (await hasWork(name)) {
        entry.load.lastBusyAt = now;
        continue;
      }
      served.delete(name);
      closeIdle(name, entry.worker);
    }
    const names = await options.registry.productQueues();
    for (const name of names) {
      if (stopped || served.has(name) || !isProductQueueName(name)) continue;
      if ((await hasWork(name)) && !stopped && !served.has(name)) serve(name);
    }
  };

  serve(options.queues.products.name);
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    discover()
      .catch((error: unknown) => {
        options.log.debug({ reason: (error as Error).message }, 'product queues not read');
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, discoveryMs);
      });
  };
  tick();

  return {
    async ready() {
      await Promise.all([...served.values()].map((entry) => entry.worker.waitUntilReady()));
    },
    serving: () => [...served.keys()],
    serveNow(name) {
      if (!stopped && !served.has(name) && isProductQueueName(name)) serve(name);
    },
    async close() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all([...[...served.values()].map((entry) => entry.worker.close()), ...closing]);
    },
    cancel(reason) {
      for (const entry of served.values()) entry.worker.cancelAllJobs(reason);
    },
  };
}
