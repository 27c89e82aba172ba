import { openJobState } from '@imgsvc/job-state';
import { createLogger } from '@imgsvc/logging';
import { createRedisConnection, openQueues, productQueueName, type Queues } from '@imgsvc/queue';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../test/support/poll.js';
import { testRedisUrl } from '../../../test/support/servers.js';
import { type ProductWorkers, startProductWorkers } from './product-workers.js';

const OWNER_A = 'a'.repeat(32);
const OWNER_B = 'b'.repeat(32);

/** Jobs that run until the test lets them end, so that who holds a slot when can be seen. */
function heldJobs() {
  const running = new Map<string, () => void>();
  const most = new Map<string, number>();
  const runningOf = (queue: string) => [...running.keys()].filter((id) => id.startsWith(`${queue}/`)).length;
  return {
    running,
    runningOf,
    most: (queue: string) => most.get(queue) ?? 0,
    run: (job: Job, cancel?: AbortSignal) =>
      new Promise<string>((resolve) => {
        const id = `${job.queueName}/${job.id}`;
        const finish = () => {
          running.delete(id);
          resolve('done');
        };
        running.set(id, finish);
        cancel?.addEventListener('abort', finish, { once: true });
        most.set(job.queueName, Math.max(most.get(job.queueName) ?? 0, runningOf(job.queueName)));
      }),
    finish(queue: string, count: number) {
      for (const [id, finish] of [...running].filter(([id]) => id.startsWith(`${queue}/`)).slice(0, count)) {
        expect(id).toBeDefined();
        finish();
      }
    },
  };
}

describe("the worker's product queues, one per tenant", () => {
  let redis: Redis;
  let queues: Queues;
  let workers: ProductWorkers | undefined;
  let jobs = heldJobs();

  beforeEach(async () => {
    jobs = heldJobs();
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    queues = openQueues(redis);
  });
  afterEach(async () => {
    // Jobs still held, or waiting for a slot, are cancelled as at a shutdown.
    const closing = workers?.close();
    workers?.cancel('test over');
    await closing;
    workers = undefined;
    await queues.close();
    await redis.quit();
  });

  const start = (options: { slots: number; perTenant: number; idleMs?: number }) => {
    const registry = openJobState(redis, { lockMs: 5000, encodingSettings: 'test' });
    workers = startProductWorkers({
      queues,
      registry,
      run: (job, _token, cancel) => jobs.run(job, cancel),
      processor: (run) => run,
      workerOptions: { connection: redis },
      slots: options.slots,
      slotsPerTenant: options.perTenant,
      onWorker: () => {},
      log: createLogger('worker', 'silent'),
      discoveryMs: 100,
      idleMs: options.idleMs,
    });
    return registry;
  };

  const give = async (
    registry: ReturnType<typeof start>,
    owner: string,
    count: number,
    first = 1,
  ): Promise<string> => {
    const queue = queues.productsOf(owner);
    await registry.announceProductQueue(queue.name);
    await queue.addBulk(
      Array.from({ length: count }, (_, index) => ({
        name: 'process-product-images',
        data: { requestId: '00000000-0000-4000-8000-000000000000', row: first + index, urls: ['x'] },
        opts: { jobId: `p-${owner.slice(0, 4)}-${first + index}` },
      })),
    );
    return queue.name;
  };

  it("keeps a slot for other tenants however large one tenant's backlog, and serves a newcomer at once", async () => {
    const registry = start({ slots: 4, perTenant: 3 });
    const a = await give(registry, OWNER_A, 20);
    await pollUntil(async () => (jobs.runningOf(a) === 3 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: "tenant A's jobs holding its share",
    });
    const b = await give(registry, OWNER_B, 5);
    // B gets the slot A could not take, within the registry's discovery interval.
    await pollUntil(async () => (jobs.runningOf(b) === 1 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "tenant B's first job running",
    });
    expect(jobs.runningOf(a)).toBe(3);
    expect(workers?.serving().sort()).toEqual([productQueueName(null), a, b].sort());
    // Slots are given in the order jobs asked for them: B's next jobs, which have waited since B arrived,
    // take the two slots A's jobs leave, ahead of the A jobs that come after them.
    jobs.finish(a, 2);
    await pollUntil(async () => (jobs.runningOf(b) === 3 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "tenant B's waiting jobs running",
    });
    expect(jobs.runningOf(a)).toBe(1);
    // And back: as B's jobs end, A's waiting ones run, never more than three of one tenant.
    jobs.finish(b, 3);
    await pollUntil(async () => (jobs.runningOf(a) === 3 && jobs.runningOf(b) === 1 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'both tenants running again',
    });
    expect(jobs.most(a)).toBe(3);
    expect(jobs.most(b)).toBe(3);
  });

  it('serves at once a queue given work by its own process, which no read of the registry would find', async () => {
    start({ slots: 2, perTenant: 1 });
    // Not announced in the registry: only serveNow can have this process take its jobs.
    const queue = queues.productsOf(OWNER_A);
    await queue.add(
      'process-product-images',
      { requestId: '00000000-0000-4000-8000-000000000000', row: 1, urls: ['x'] },
      { jobId: 'p-aaaa-1' },
    );
    workers?.serveNow(queue.name);
    workers?.serveNow(queue.name);
    await pollUntil(async () => (jobs.runningOf(queue.name) === 1 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'the job of a queue served at once',
    });
    expect(workers?.serving().sort()).toEqual([productQueueName(null), queue.name].sort());
    // A name that is not a product queue's is not served.
    workers?.serveNow('requests');
    expect(workers?.serving()).not.toContain('requests');
  });

  it('closes the worker of a queue left without work, and serves the queue again when it is given more', async () => {
    const registry = start({ slots: 2, perTenant: 1, idleMs: 300 });
    const a = await give(registry, OWNER_A, 1);
    await pollUntil(async () => (jobs.runningOf(a) === 1 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "tenant A's job running",
    });
    jobs.finish(a, 1);
    await pollUntil(async () => (workers?.serving().includes(a) ? undefined : true), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "tenant A's idle worker closed",
    });
    await give(registry, OWNER_A, 1, 2);
    await pollUntil(async () => (jobs.runningOf(a) === 1 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "tenant A's next job running",
    });
  });

  it('serves a queue whose only job is held by a worker process that died, so that the job is found stalled', async () => {
    const registry = openJobState(redis, { lockMs: 1000, encodingSettings: 'test' });
    const name = await give(registry, OWNER_A, 1);
    // Another process takes the job and dies holding it: its connection drops, its lock lapses.
    const dying = redis.duplicate();
    let taken: () => void = () => {};
    const jobTaken = new Promise<void>((resolve) => {
      taken = resolve;
    });
    const other = new Worker(
      name,
      () =>
        new Promise(() => {
          taken();
        }),
      { connection: dying, lockDuration: 1000, stalledInterval: 300 },
    );
    other.on('error', () => {});
    await jobTaken;
    dying.disconnect();
    // What is left of it goes too, without waiting for the job it will never finish.
    void other.close(true).catch(() => {});
    expect(await queues.productQueue(name).count()).toBe(0);

    workers = startProductWorkers({
      queues,
      registry,
      run: (job, _token, cancel) => jobs.run(job, cancel),
      processor: (run) => run,
      workerOptions: { connection: redis, lockDuration: 1000, stalledInterval: 300 },
      slots: 2,
      slotsPerTenant: 1,
      onWorker: () => {},
      log: createLogger('worker', 'silent'),
      discoveryMs: 100,
    });
    await pollUntil(async () => (jobs.runningOf(name) === 1 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the stalled job running again',
    });
  });
});
