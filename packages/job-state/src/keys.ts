import { createHash } from 'node:crypto';

/**
 * Every key the service keeps in Redis besides BullMQ's own (`bull:…`) and the API's rate limit, built here and
 * nowhere else. The names are those the service has always used, so a running deployment's state stays readable.
 */
const PREFIX = 'imgsvc';

const sha256 = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex');

/** A URL's field in its request's outcomes hash, and the last part of its lock's key. */
export function urlField(url: string): string {
  return sha256(url);
}

export const keys = {
  /** Hash of a running request's counts: products_done, images_succeeded, images_failed, updated_at (ms). */
  progressCounts: (requestId: string) => `${PREFIX}:progress:${requestId}`,
  /** Hash of a running request's failed images by code. */
  progressFailures: (requestId: string) => `${PREFIX}:progress-failures:${requestId}`,
  /** Set of the rows already counted, so that a product's rerun is not counted twice. */
  progressRows: (requestId: string) => `${PREFIX}:progress-rows:${requestId}`,
  /** Hash of a request's settled URLs: urlField(url) → the outcome as JSON. */
  urlOutcomes: (requestId: string) => `${PREFIX}:image-outcomes:${requestId}`,
  /** The lock a job holds on one URL of a request while it produces it; the value is the claim's token. */
  urlLock: (requestId: string, url: string) => `${PREFIX}:image-lock:${requestId}:${urlField(url)}`,
  /**
   * What a URL gave under the given encoding settings (its output's key and its server's validators), across
   * requests. The settings are part of the name, so entries made under other settings are never found.
   */
  imageSource: (settings: string, url: string) => `${PREFIX}:image-source:${sha256(settings, url)}`,
  /** Sorted set of the product queues given work (one per tenant), scored by when they last were (ms). */
  productQueues: () => `${PREFIX}:product-queues`,
  /** Set of the outputs a running request has used or made (their keys), until it is finished. */
  outputClaims: (requestId: string) => `${PREFIX}:output-claims:${requestId}`,
  /** Set of the running requests that hold output claims. */
  outputClaimants: () => `${PREFIX}:output-claimants`,
  /** Stands while an output is being deleted: no request starts to use it meanwhile. */
  outputDeletion: (key: string) => `${PREFIX}:output-deletion:${key}`,
  /** Held by the one worker that reconciles requests this interval; lapses by itself. */
  reconcilerTurn: () => `${PREFIX}:reconciler-turn`,
} as const;
