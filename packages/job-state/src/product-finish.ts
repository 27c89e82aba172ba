import type { RequestCounts } from '@imgsvc/domain';
import { type ImageSource, queueSources } from './image-sources.js';
import { progressArguments } from './live-progress.js';
import type { JobStatePipeline, JobStateRedis } from './scripts.js';
import { type ImageOutcome, settlement, type UrlClaim } from './url-claims.js';

/** A product whose result is recorded: its last claim and outcomes, its counts, and what its URLs gave. */
export interface FinishedProduct {
  readonly claim: UrlClaim;
  readonly outcomes: ReadonlyMap<string, ImageOutcome>;
  readonly row: number;
  readonly counts: RequestCounts;
  readonly sources: ReadonlyMap<string, ImageSource>;
}

export interface ProductFinishing {
  /**
   * Everything a product's job tells Redis once its result is recorded, in one trip: its last URL claim settled
   * (`settleUrls`), the product counted once however often its job runs (`recordProgress`), and what its URLs gave
   * kept for later requests (`rememberSources`). True when this call counted the product. Failing to keep the
   * sources fails nothing: they only save later downloads.
   */
  finishProduct(product: FinishedProduct): Promise<boolean>;
}

export function productFinishing(redis: JobStateRedis, settings: string): ProductFinishing {
  return {
    async finishProduct({ claim, outcomes, row, counts, sources }) {
      const batch = redis.pipeline() as JobStatePipeline;
      const settle = settlement(claim, outcomes);
      if (settle) batch.imgsvcSettleUrls(...settle);
      batch.imgsvcRecordProgress(...progressArguments(claim.requestId, row, counts));
      queueSources(batch, settings, sources);
      const replies = (await batch.exec()) ?? [];
      const [settled, counted] = settle ? replies : [undefined, ...replies];
      for (const reply of [settled, counted]) if (reply?.[0]) throw reply[0];
      return counted?.[1] === 1;
    },
  };
}
