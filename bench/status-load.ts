import autocannon from 'autocannon';
import { type Connections, faster, pipelineHarness } from './harness.js';

export interface LoadResult {
  readonly requests_per_second: number;
  readonly p99_ms: number;
  readonly errors: number;
}

export interface StatusLoadResult {
  readonly status: LoadResult;
  readonly bare: LoadResult;
}

async function load(url: string, seconds: number): Promise<LoadResult> {
  const result = await autocannon({ url, connections: 10, duration: seconds, pipelining: 1 });
  return {
    requests_per_second: Math.round(result.requests.average),
    p99_ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

/**
 * autocannon against GET /api/status/{id} of a finished request, and against the API's bare liveness route,
 * on the same API process in the same run: three rounds of each, alternated, the best of each kept.
 */
export async function measureStatusLoad(
  connections: Connections,
  seconds: number,
): Promise<StatusLoadResult> {
  const run = await pipelineHarness(connections, `bench_status_${Date.now()}`, new Map());
  try {
    await run.startWorker();
    const id = await run.upload([['https://img.example/never-fetched.jpg']]);
    await run.waitFor(id, (status) => status.status === 'completed', 60_000);
    await load(`${run.apiUrl}/health/live`, 1);
    // Alternated, best of each: a shared machine slows down and speeds up over seconds, and both routes
    // should see the same machine.
    const best = (kept: LoadResult | undefined, next: LoadResult) =>
      faster(kept, next, (result) => result.requests_per_second);
    let bare: LoadResult | undefined;
    let status: LoadResult | undefined;
    for (let round = 0; round < 3; round += 1) {
      bare = best(bare, await load(`${run.apiUrl}/health/live`, seconds));
      status = best(status, await load(`${run.apiUrl}/api/status/${id}`, seconds));
    }
    if (!bare || !status) throw new Error('no load was measured');
    return { status, bare };
  } finally {
    await run.close();
  }
}
