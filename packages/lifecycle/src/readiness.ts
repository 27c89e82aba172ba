/**
 * Whether a program can do its work now: MongoDB and Redis answer, and the storage can take images. Both
 * programs answer `/health/ready` with these checks (the API on its port, the worker on its metrics port).
 */

/** Each check's deadline. */
export const READY_TIMEOUT_MS = 2000;

/** 'ok', or why each dependency is not usable. */
export interface ReadinessChecks {
  readonly mongodb: string;
  readonly redis: string;
  readonly storage: string;
}

/** What the checks ask: the program's own connections and store, the ones its work uses. */
export interface ReadinessProbes {
  readonly db: { ping(timeoutMs: number): Promise<unknown> };
  readonly redis: { readonly status: string; ping(): Promise<unknown> };
  readonly store: { checkWritable(): Promise<unknown> };
}

/** 'ok', or why the probe failed or did not answer within the deadline. */
async function check(probe: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
          READY_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.message : 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the three checks at once. A Redis connection that queues commands while it is down would only make a
 * ping wait: its state is asked first. The store reads its own answer at most once a second.
 */
export async function checkReadiness({ db, redis, store }: ReadinessProbes): Promise<ReadinessChecks> {
  const [mongodb, redisCheck, storage] = await Promise.all([
    check(() => db.ping(READY_TIMEOUT_MS)),
    check(async () => {
      if (redis.status !== 'ready') throw new Error(`not connected (${redis.status})`);
      await redis.ping();
    }),
    check(() => store.checkWritable()),
  ]);
  return { mongodb, redis: redisCheck, storage };
}

export function isReady(checks: ReadinessChecks): boolean {
  return Object.values(checks).every((result) => result === 'ok');
}

/** What is not ready, in one line: `Redis: not connected (reconnecting)`. */
export function describeUnreadiness(checks: ReadinessChecks): string {
  return Object.entries({ MongoDB: checks.mongodb, Redis: checks.redis, Storage: checks.storage })
    .filter(([, result]) => result !== 'ok')
    .map(([server, result]) => `${server}: ${result}`)
    .join('; ');
}
