import { recordProductResult, tallyProducts } from '@imgsvc/db';
import { productCounts, type RequestCounts } from '@imgsvc/domain';
import { type JobState, openJobState } from '@imgsvc/job-state';
import { finishRequest, type RequestFinishing } from '@imgsvc/requests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.js';
import { insertStoredRequest } from './support/catalogue.js';

/** The counts a request completes with: from the live progress when it covers every row, else recounted. */
describe('the counts a request completes with', () => {
  let api: TestApi;
  let jobState: JobState;
  let connection: TestApi['redis'] | undefined;
  beforeAll(async () => {
    api = await startTestApi('request-counts');
    connection = api.redis.duplicate();
    jobState = openJobState(connection, { lockMs: 2000, encodingSettings: 'test' });
  });
  afterAll(async () => {
    await connection?.quit();
    await api?.close();
  });

  /** Six two-image products; each recorded product's result in MongoDB and then, if `counted`, its progress. */
  const processed = async (recorded: (row: number) => boolean, counted: (row: number) => boolean) => {
    const products = 6;
    const id = await insertStoredRequest(
      api.db,
      Array.from({ length: products }, (_, index) => ({
        productName: `Product ${index + 1}`,
        inputUrls: [`https://img.example/${index}-a.jpg`, `https://img.example/${index}-b.jpg`],
      })),
    );
    for (let row = 1; row <= products; row += 1) {
      if (!recorded(row)) continue;
      // Every third product lost its second image.
      const failed = row % 3 === 0;
      const errors = failed
        ? [
            {
              url: `https://img.example/${row - 1}-b.jpg`,
              code: 'http_404' as const,
              message: 'the server answered 404',
            },
          ]
        : [];
      await recordProductResult(api.db, id, row, {
        outputUrls: [
          `http://127.0.0.1:3000/images/${row}a.jpg`,
          failed ? null : `http://127.0.0.1:3000/images/${row}b.jpg`,
        ],
        errors,
      });
      if (counted(row)) {
        await jobState.recordProgress(id, row, productCounts(failed ? 1 : 2, failed ? ['http_404'] : []));
      }
    }
    return id;
  };
  const finishing = (asked: (RequestCounts | undefined)[]): RequestFinishing => ({
    db: api.db,
    queues: api.queues,
    webhook: { maxAttempts: 1, backoffMs: 1000 },
    forgetJobState: (requestId) => jobState.forgetRequest(requestId),
    countedProgress: async (requestId, total) => {
      const counts = await jobState.countedProgress(requestId, total);
      asked.push(counts);
      return counts;
    },
  });

  it('are the live progress’s when every row was counted, and the same as a recount of the results', async () => {
    const id = await processed(
      () => true,
      () => true,
    );
    const asked: (RequestCounts | undefined)[] = [];
    const finished = await finishRequest(finishing(asked), id);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBeDefined();
    expect(finished.completedWith).toEqual(asked[0]);
    expect(finished.completedWith).toEqual(await tallyProducts(api.db, id, 6));
    expect(finished.completedWith).toMatchObject({
      products_done: 6,
      images_succeeded: 10,
      images_failed: 2,
      failures_by_code: { http_404: 2 },
    });
  });

  it('are recounted from the results when a row was not counted, closing a product that has no result', async () => {
    // Row 4's count was lost (Redis restarted after its result was recorded); row 6's job gave up.
    const id = await processed(
      (row) => row !== 6,
      (row) => row !== 4,
    );
    const asked: (RequestCounts | undefined)[] = [];
    const finished = await finishRequest(finishing(asked), id);
    expect(asked).toEqual([undefined]);
    expect(finished.completedWith).toMatchObject({
      products_done: 6,
      images_succeeded: 9,
      images_failed: 3,
      failures_by_code: { http_404: 1, processing_failed: 2 },
    });
  });
});
