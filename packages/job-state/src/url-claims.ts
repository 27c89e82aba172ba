import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ImageFailure } from '@imgsvc/domain';
import { EXPIRY } from './expiry.js';
import { keys, urlField } from './keys.js';
import type { JobStateRedis } from './scripts.js';

/** What became of one URL of a request: its output, or why it has none. */
export type ImageOutcome =
  | {
      readonly ok: true;
      readonly outputUrl: string;
      /** Bytes downloaded, and bytes of the output; absent where not known (a 304, an older outcome). */
      readonly inputBytes?: number;
      readonly outputBytes?: number;
    }
  | { readonly ok: false; readonly failure: ImageFailure };

/** One trip's answer for some URLs of a request: each is known, locked for the caller, or held by another job. */
export interface UrlClaim {
  readonly requestId: string;
  /** Outcomes the request already has, by URL. */
  readonly known: ReadonlyMap<string, ImageOutcome>;
  /** URLs locked for the caller, who produces each and then settles the claim. */
  readonly toProduce: readonly string[];
  /** URLs another job is producing: to be claimed again once this claim is settled. */
  readonly heldElsewhere: readonly string[];
}

export interface UrlClaims {
  /**
   * Each URL of a request is produced once, by whichever job claims it first, and its outcome shared with every
   * other product that names it, in any worker process. One trip learns every known outcome and locks the rest
   * for the caller. While every URL asked for is held by other jobs, the claim waits for them (the caller holds
   * no lock then, so two products never wait for each other); it gives up after 15 minutes.
   */
  claimUrls(requestId: string, urls: readonly string[], cancel?: AbortSignal): Promise<UrlClaim>;
  /**
   * Records the outcomes produced under the claim (those of its `toProduce` URLs found in `outcomes`) and frees
   * its locks, in one trip. A URL left without an outcome (an infrastructure failure) is simply unlocked, for a
   * retry to produce. Settling a claim again does nothing.
   */
  settleUrls(claim: UrlClaim, outcomes: ReadonlyMap<string, ImageOutcome>): Promise<void>;
}

const POLL_MS = 100;
/** However long another job's lock lives on, a waiter gives up after this and the job is retried. */
const MAX_WAIT_MS = 15 * 60 * 1000;

interface Held {
  readonly token: string;
  readonly renewal: NodeJS.Timeout;
}

/** The locks each unsettled claim holds, by claim: settling takes them out once. */
const held = new WeakMap<UrlClaim, Held>();

/**
 * The arguments of `imgsvcSettleUrls` for a claim (its outcomes recorded, its locks freed), once: the claim's
 * renewal stops and a second call gives nothing. Shared by `settleUrls` and a product's finish (product-finish.ts),
 * which sends it beside the product's count.
 */
export function settlement(
  claim: UrlClaim,
  outcomes: ReadonlyMap<string, ImageOutcome>,
): (string | number)[] | undefined {
  const holding = held.get(claim);
  if (!holding) return undefined;
  held.delete(claim);
  clearInterval(holding.renewal);
  const pairs = claim.toProduce.flatMap((url) => {
    const outcome = outcomes.get(url);
    return outcome ? [urlField(url), JSON.stringify(outcome)] : [];
  });
  const locks = claim.toProduce.map((url) => keys.urlLock(claim.requestId, url));
  return [
    1 + locks.length,
    keys.urlOutcomes(claim.requestId),
    ...locks,
    holding.token,
    EXPIRY.urlOutcomesMs,
    ...pairs,
  ];
}

/**
 * Outcomes kept in a hash per request, with a lock per URL so that two jobs do not fetch the same URL at once.
 * The holder's locks are renewed until it settles; a crashed holder's locks lapse after `lockMs`, and a waiter
 * then takes over.
 */
export function urlClaims(redis: JobStateRedis, lockMs: number): UrlClaims {
  const lockKeys = (requestId: string, urls: readonly string[]) =>
    urls.map((url) => keys.urlLock(requestId, url));

  return {
    async claimUrls(requestId, urls, cancel) {
      const wanted = [...new Set(urls)];
      const token = randomUUID();
      const deadline = Date.now() + MAX_WAIT_MS;
      for (;;) {
        const locks = lockKeys(requestId, wanted);
        const states = await redis.imgsvcClaimUrls(
          1 + locks.length,
          keys.urlOutcomes(requestId),
          ...locks,
          token,
          lockMs,
          ...wanted.map(urlField),
        );
        const known = new Map<string, ImageOutcome>();
        const toProduce: string[] = [];
        const heldElsewhere: string[] = [];
        wanted.forEach((url, index) => {
          const state = states[index];
          if (typeof state === 'string') known.set(url, JSON.parse(state) as ImageOutcome);
          else if (state === 1) toProduce.push(url);
          else heldElsewhere.push(url);
        });
        if (known.size > 0 || toProduce.length > 0 || heldElsewhere.length === 0) {
          const claim: UrlClaim = { requestId, known, toProduce, heldElsewhere };
          if (toProduce.length > 0) {
            const mine = lockKeys(requestId, toProduce);
            const renewal = setInterval(() => {
              redis.imgsvcRenewUrlLocks(mine.length, ...mine, token, lockMs).catch(() => {});
            }, lockMs / 3);
            held.set(claim, { token, renewal });
          }
          return claim;
        }
        if (Date.now() > deadline) throw new Error(`gave up waiting for another job to process ${wanted[0]}`);
        await delay(POLL_MS, undefined, { signal: cancel });
      }
    },
    async settleUrls(claim, outcomes) {
      const args = settlement(claim, outcomes);
      if (args) await redis.imgsvcSettleUrls(...args);
    },
  };
}
