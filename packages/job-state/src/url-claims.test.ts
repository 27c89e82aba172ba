import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { type JobState, openJobState } from './job-state.js';
import type { ImageOutcome } from './url-claims.js';

const stored = (name: string): ImageOutcome => ({ ok: true, outputUrl: `http://x/images/${name}` });

/**
 * What a product job does: claims its URLs, produces those it locked, settles them (before waiting for URLs other
 * jobs hold), claims the rest again, and returns every URL's outcome in the product's order.
 */
async function productOutcomes(
  state: JobState,
  requestId: string,
  urls: readonly string[],
  produce: (url: string) => Promise<ImageOutcome>,
): Promise<ImageOutcome[]> {
  const outcomes = new Map<string, ImageOutcome>();
  let claim = await state.claimUrls(requestId, urls);
  for (;;) {
    for (const [url, outcome] of claim.known) outcomes.set(url, outcome);
    const produced = await Promise.allSettled(
      claim.toProduce.map(async (url) => outcomes.set(url, await produce(url))),
    );
    await state.settleUrls(claim, outcomes);
    const failure = produced.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    if (claim.heldElsewhere.length === 0) break;
    claim = await state.claimUrls(requestId, claim.heldElsewhere);
  }
  return urls.map((url) => outcomes.get(url) ?? stored('missing'));
}

describe('claiming the URLs of a request, on a real Redis', () => {
  let url: string;
  let redis: Redis;
  let state: JobState;
  beforeAll(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    state = openJobState(redis, { lockMs: 2000, encodingSettings: 'test' });
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('processes a URL once per request, whichever product names it, and in order for each product', async () => {
    const request = randomUUID();
    const produced: string[] = [];
    const produce = async (url: string) => {
      produced.push(url);
      await delay(50);
      return stored(url);
    };
    const [first, second] = await Promise.all([
      productOutcomes(state, request, ['a', 'shared', 'a'], produce),
      productOutcomes(state, request, ['shared', 'b'], produce),
    ]);
    expect(first).toEqual([stored('a'), stored('shared'), stored('a')]);
    expect(second).toEqual([stored('shared'), stored('b')]);
    expect(produced.sort()).toEqual(['a', 'b', 'shared']);
    // Known outcomes are reused by a later product without producing anything.
    const later = await state.claimUrls(request, ['b', 'shared']);
    expect(later.toProduce).toEqual([]);
    expect([...later.known]).toEqual([
      ['b', stored('b')],
      ['shared', stored('shared')],
    ]);
  });

  it('lets two products naming the same images in opposite orders both finish, each image made once', async () => {
    const request = randomUUID();
    const made: string[] = [];
    const produce = async (url: string) => {
      made.push(url);
      await delay(100);
      return stored(url);
    };
    const started = Date.now();
    const [one, two] = await Promise.all([
      productOutcomes(state, request, ['u1', 'u2'], produce),
      productOutcomes(state, request, ['u2', 'u1'], produce),
    ]);
    expect(one).toEqual([stored('u1'), stored('u2')]);
    expect(two).toEqual([stored('u2'), stored('u1')]);
    expect(made.sort()).toEqual(['u1', 'u2']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('fails a product whose image meets an infrastructure failure while another of its URLs is awaited, and frees its locks at once', async () => {
    const lockMs = 2000;
    const request = randomUUID();
    // Another job holds "slow" for a while.
    let holding = () => {};
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const holder = productOutcomes(state, request, ['slow'], async () => {
      holding();
      await delay(400);
      return stored('slow');
    });
    await held;
    const failing = productOutcomes(state, request, ['slow', 'broken'], async (url) => {
      if (url === 'broken') throw new Error('disk full');
      return stored(url);
    });
    await expect(failing).rejects.toThrow('disk full');
    await holder;
    // The failed job's lock on "broken" is gone: the retry takes it at once, not when a leaked lock would lapse.
    const bound = lockMs / 4;
    const started = Date.now();
    const retry = await state
      .claimUrls(request, ['broken'], AbortSignal.timeout(bound))
      .catch((error: unknown) => {
        throw new Error(`the retry still waited for the lock on "broken" after ${Date.now() - started} ms`, {
          cause: error,
        });
      });
    expect(Date.now() - started).toBeLessThan(bound);
    expect(retry.toProduce).toEqual(['broken']);
    await state.settleUrls(retry, new Map([['broken', stored('broken')]]));
    expect((await state.claimUrls(request, ['broken'])).known.get('broken')).toEqual(stored('broken'));
  });

  it('waits while every URL asked for is held by another job, and learns the outcome it settles', async () => {
    const request = randomUUID();
    const holder = await state.claimUrls(request, ['busy']);
    expect(holder.toProduce).toEqual(['busy']);
    let answered = false;
    const waiter = state.claimUrls(request, ['busy']).finally(() => {
      answered = true;
    });
    await delay(300);
    expect(answered).toBe(false);
    await state.settleUrls(holder, new Map([['busy', stored('busy')]]));
    const claim = await waiter;
    expect(claim.toProduce).toEqual([]);
    expect(claim.known.get('busy')).toEqual(stored('busy'));
  });

  it('keeps a working holder’s locks past their lifetime, and hands a crashed holder’s URLs to a waiter', async () => {
    const request = randomUUID();
    const lockMs = 300;
    const quick = openJobState(redis, { lockMs, encodingSettings: 'test' });
    // A holder that keeps working: its locks are renewed, so another job still finds the URL held.
    const working = await quick.claimUrls(request, ['kept']);
    await delay(lockMs * 3);
    const meanwhile = await quick.claimUrls(request, ['kept', 'free']);
    expect(meanwhile.toProduce).toEqual(['free']);
    expect(meanwhile.heldElsewhere).toEqual(['kept']);
    await quick.settleUrls(working, new Map([['kept', stored('kept')]]));
    await quick.settleUrls(meanwhile, new Map([['free', stored('free')]]));

    // A holder whose process is gone stops renewing: the waiter takes the URL once the lock lapses.
    const lost = new Redis(url);
    const crashed = openJobState(lost, { lockMs, encodingSettings: 'test' });
    const abandoned = await crashed.claimUrls(request, ['orphan']);
    lost.disconnect();
    const started = Date.now();
    const takeover = await quick.claimUrls(request, ['orphan']);
    expect(takeover.toProduce).toEqual(['orphan']);
    expect(Date.now() - started).toBeLessThan(lockMs + 2000);
    await quick.settleUrls(takeover, new Map([['orphan', stored('orphan')]]));
    await crashed.settleUrls(abandoned, new Map()).catch(() => {});
  });
});
