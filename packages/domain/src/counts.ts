import { isFinished, type RequestStatus } from './request-status.js';

/** What a request holds, fixed at upload. */
export interface RequestTotals {
  readonly products: number;
  readonly images: number;
}

/** How many images failed with each code (`http_404`, `fetch_timeout`, …); codes with none are left out. */
export type FailuresByCode = Readonly<Record<string, number>>;

/** What is done: counted live while the request runs, recounted exactly when it finishes. */
export interface RequestCounts {
  readonly products_done: number;
  readonly images_succeeded: number;
  readonly images_failed: number;
  readonly failures_by_code: FailuresByCode;
}

/** The counts a client sees (status, events, webhook): the totals beside what is done. */
export interface CountsView extends RequestCounts {
  readonly products: number;
  readonly images: number;
}

export const ZERO_COUNTS: RequestCounts = {
  products_done: 0,
  images_succeeded: 0,
  images_failed: 0,
  failures_by_code: {},
};

/** The counts of one product's images: how many succeeded, and one failure code per image that did not. */
export function productCounts(succeeded: number, failureCodes: readonly string[]): RequestCounts {
  return addCounts(ZERO_COUNTS, { succeeded, failureCodes, products: 1 });
}

/** Adds a product's (or any number of products') outcome to the counts. */
export function addCounts(
  counts: RequestCounts,
  outcome: {
    readonly products: number;
    readonly succeeded: number;
    readonly failureCodes: readonly string[];
  },
): RequestCounts {
  const failures: Record<string, number> = { ...counts.failures_by_code };
  for (const code of outcome.failureCodes) failures[code] = (failures[code] ?? 0) + 1;
  return {
    products_done: counts.products_done + outcome.products,
    images_succeeded: counts.images_succeeded + outcome.succeeded,
    images_failed: counts.images_failed + outcome.failureCodes.length,
    failures_by_code: failures,
  };
}

interface CountedRequest {
  readonly status: RequestStatus;
  readonly totals: RequestTotals;
  /** The exact counts stored when the request finished (older requests lack failures by code). */
  readonly counts: Omit<RequestCounts, 'failures_by_code'> & { readonly failures_by_code?: FailuresByCode };
}

/** A finished request shows its exact, recounted counts; a running one the live counts given. */
export function countsView(request: CountedRequest, live?: RequestCounts): CountsView {
  const done = isFinished(request.status) || !live ? request.counts : live;
  return {
    products: request.totals.products,
    products_done: Math.min(done.products_done, request.totals.products),
    images: request.totals.images,
    images_succeeded: done.images_succeeded,
    images_failed: done.images_failed,
    failures_by_code: done.failures_by_code ?? {},
  };
}

/**
 * The percentage a client sees: whole products done, one decimal, below 100 until the request is finished
 * (the last products may be done while the request is still being closed).
 */
export function completionPercentage(
  request: Pick<CountedRequest, 'status' | 'totals'>,
  live?: Pick<RequestCounts, 'products_done'>,
): number {
  if (isFinished(request.status)) return 100;
  if (request.totals.products === 0 || !live) return 0;
  const share = (live.products_done / request.totals.products) * 100;
  return Math.min(99, Math.floor(share * 10) / 10);
}
