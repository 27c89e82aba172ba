import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  claimIdempotencyKey,
  connectDatabase,
  type Database,
  insertRequestWithProducts,
  markRequestCompleted,
  markRequestDeleted,
  recordProductResult,
} from '@imgsvc/db';
import { ZERO_COUNTS } from '@imgsvc/domain';
import { type JobState, openJobState } from '@imgsvc/job-state';
import { createRedisConnection } from '@imgsvc/queue';
import { contentKey, createDiskImageStore, type DiskImageStore } from '@imgsvc/storage';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../test/support/poll.js';
import { testMongoUrl, testRedisUrl } from '../../../test/support/servers.js';
import { type RequestRemoval, removeDeletedRequests } from './remove-requests.js';

const DAY_MS = 86_400_000;
const BASE = 'https://api.example/images/';

describe('removing deleted and expired requests, on real servers and a real store', () => {
  let db: Database;
  let redis: Redis;
  let state: JobState;
  let folder: string;
  let store: DiskImageStore;
  let removal: RequestRemoval;
  beforeAll(async () => {
    db = await connectDatabase(testMongoUrl('remove_requests'), 'removal-test');
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    state = openJobState(redis, { lockMs: 5000, encodingSettings: 'test' });
    folder = await mkdtemp(join(tmpdir(), 'removal-'));
    store = createDiskImageStore(folder);
    removal = {
      db,
      removeOutput: (key) => store.remove(key),
      beginOutputDeletion: (token, keys) => state.beginOutputDeletion(token, keys),
      endOutputDeletion: (token, keys) => state.endOutputDeletion(token, keys),
      forgetJobState: (id) => state.forgetRequest(id),
    };
  });
  afterAll(async () => {
    redis?.disconnect();
    await db?.close();
    await rm(folder, { recursive: true, force: true });
  });

  /** A stored output, as the worker leaves one. */
  const output = async (name: string) => {
    const key = contentKey([name, randomUUID()], 'jpg');
    await store.put(key, Buffer.from(name));
    return key;
  };

  /** A finished request whose products' results list the given outputs (one product per list). */
  const finished = async (products: readonly (readonly string[])[], finishedAt = new Date()) => {
    const id = randomUUID();
    await insertRequestWithProducts(db, {
      id,
      owner: null,
      columns: [],
      products: products.map((keys, index) => ({
        row: index + 1,
        serialNumber: index + 1,
        productName: `Product ${index + 1}`,
        inputUrls: keys.map((key) => `https://img.example/${key}`),
      })),
      imageCount: products.flat().length,
      webhookUrl: null,
    });
    for (const [index, keys] of products.entries()) {
      await recordProductResult(db, id, index + 1, {
        outputUrls: keys.map((key) => `${BASE}${key}`),
        errors: [],
      });
    }
    await markRequestCompleted(db, id, ZERO_COUNTS, finishedAt);
    return id;
  };
  const removeNow = (retentionDays = 0, now = new Date(), using: RequestRemoval = removal) =>
    removeDeletedRequests(using, { retentionDays, limit: 100, deadline: Date.now() + 60_000, now });

  it('removes a deleted request with the outputs nobody else lists, and keeps those another request lists or a running one uses', async () => {
    const [own, shared, inUse, ownTwice] = [
      await output('own'),
      await output('shared'),
      await output('in use'),
      await output('own twice'),
    ];
    const deleted = await finished([
      [own, shared],
      [inUse, ownTwice, ownTwice],
    ]);
    const other = await finished([[shared]]);
    await claimIdempotencyKey(db, { scope: `scope-${deleted}`, requestId: deleted, fingerprint: 'f' });
    // A running request has just found `inUse` in the store and has not recorded its result yet.
    const running = randomUUID();
    expect(await state.claimOutputs(running, [inUse])).toEqual([]);

    // Not deleted yet: a pass leaves everything alone.
    expect((await removeNow()).removed).toEqual([]);
    expect(await markRequestDeleted(db, deleted)).toBe(true);
    expect(await markRequestDeleted(db, deleted)).toBe(false);
    expect(await removeNow()).toEqual({
      expired: 0,
      removed: [{ id: deleted, outputsRemoved: 2, outputsKept: 2 }],
    });
    expect(await store.has(own)).toBe(false);
    expect(await store.has(ownTwice)).toBe(false);
    expect(await store.has(shared)).toBe(true);
    expect(await store.has(inUse)).toBe(true);
    expect(await db.requests.countDocuments({ _id: deleted })).toBe(0);
    expect(await db.products.countDocuments({ request_id: deleted })).toBe(0);
    expect(await db.results.countDocuments({ request_id: deleted })).toBe(0);
    expect(await db.idempotencyKeys.countDocuments({ request_id: deleted })).toBe(0);
    expect(await db.incoming.countDocuments({ _id: deleted })).toBe(0);
    expect(await db.results.countDocuments({ request_id: other })).toBe(1);

    // Once the running request has finished (its claims dropped), nothing holds `inUse` but its results.
    await state.forgetRequest(running);
    expect(await state.beginOutputDeletion('check', [inUse])).toEqual([inUse]);
    await state.endOutputDeletion('check', [inUse]);
  });

  it('keeps an output a request records and finishes with while the removal is deciding, however the two interleave', async () => {
    const key = await output('recorded meanwhile');
    const deleted = await finished([[key]]);
    await markRequestDeleted(db, deleted);
    // Another request finds the output in the store and records it just before the removal marks it: its
    // claim is dropped again when it finishes, so only its recorded result can keep the output.
    const latecomer = async () => {
      const other = randomUUID();
      expect(await state.claimOutputs(other, [key])).toEqual([]);
      await insertRequestWithProducts(db, {
        id: other,
        owner: null,
        columns: [],
        products: [{ row: 1, serialNumber: 1, productName: 'Late', inputUrls: ['https://img.example/late'] }],
        imageCount: 1,
        webhookUrl: null,
      });
      await recordProductResult(db, other, 1, { outputUrls: [`${BASE}${key}`], errors: [] });
      await markRequestCompleted(db, other, ZERO_COUNTS);
      await state.forgetRequest(other);
    };
    const racing: RequestRemoval = {
      ...removal,
      async beginOutputDeletion(token, keys) {
        await latecomer();
        return removal.beginOutputDeletion(token, keys);
      },
    };
    expect((await removeNow(0, new Date(), racing)).removed).toEqual([
      { id: deleted, outputsRemoved: 0, outputsKept: 1 },
    ]);
    expect(await store.has(key)).toBe(true);
  });

  it('keeps its marks until every removal under way has ended, even when one fails', async () => {
    const keys = [await output('fails'), await output('slow one'), await output('slow two')];
    const deleted = await finished([keys]);
    await markRequestDeleted(db, deleted);
    const events: string[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const failing: RequestRemoval = {
      ...removal,
      async removeOutput(key) {
        events.push(`start ${key}`);
        if (key === keys[0]) throw new Error('the store refused');
        await gate;
        await store.remove(key);
        events.push(`end ${key}`);
      },
      async endOutputDeletion(token, marked) {
        events.push('lift');
        await removal.endOutputDeletion(token, marked);
      },
    };
    const pass = removeNow(0, new Date(), failing);
    pass.catch(() => {});
    await pollUntil(
      async () => (events.filter((event) => event.startsWith('start')).length === 3 ? true : undefined),
      {
        timeoutMs: 10_000,
        what: 'every removal started',
      },
    );
    expect(events).not.toContain('lift');
    release();
    await expect(pass).rejects.toThrow('the store refused');
    expect(events.slice(-1)).toEqual(['lift']);
    expect(events.filter((event) => event.startsWith('end'))).toHaveLength(2);
    // The request stays marked: the next pass removes it.
    expect(await db.requests.countDocuments({ _id: deleted })).toBe(1);
    expect((await removeNow()).removed).toEqual([{ id: deleted, outputsRemoved: 3, outputsKept: 0 }]);
  });

  it('expires finished requests past RETENTION_DAYS, and an output two deleted requests share goes with them', async () => {
    const [shared, recent] = [await output('shared by the old'), await output('recent')];
    const now = new Date();
    const old = await finished([[shared]], new Date(now.getTime() - 40 * DAY_MS));
    const older = await finished([[shared]], new Date(now.getTime() - 50 * DAY_MS));
    const young = await finished([[recent]], new Date(now.getTime() - 10 * DAY_MS));

    const pass = await removeNow(30, now);
    expect(pass.expired).toBe(2);
    expect(pass.removed.map((removed) => removed.id).sort()).toEqual([old, older].sort());
    expect(await store.has(shared)).toBe(false);
    expect(await store.has(recent)).toBe(true);
    expect(await db.requests.countDocuments({ _id: young })).toBe(1);
    // Without RETENTION_DAYS nothing expires.
    const ancient = await finished([[recent]], new Date(now.getTime() - 400 * DAY_MS));
    expect(await removeNow(0, now)).toEqual({ expired: 0, removed: [] });
    expect(await db.requests.countDocuments({ _id: ancient })).toBe(1);
  });

  it('keeps an output listed by a result recorded before results named their outputs by key, whatever its base URL', async () => {
    const key = await output('listed by URL only');
    const deleted = await finished([[key]]);
    const older = randomUUID();
    await db.results.insertOne({
      _id: `${older}:000000001`,
      request_id: older,
      row: 1,
      output_urls: [`http://old-host.example:3000/images/${key}`],
      errors: [],
      recorded_at: new Date(),
    });
    await markRequestDeleted(db, deleted);
    expect((await removeNow()).removed).toEqual([{ id: deleted, outputsRemoved: 0, outputsKept: 1 }]);
    expect(await store.has(key)).toBe(true);
  });
});

describe('output claims against deletions, on a real Redis', () => {
  let redis: Redis;
  let state: JobState;
  beforeAll(async () => {
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    state = openJobState(redis, { lockMs: 5000, encodingSettings: 'test' });
  });
  afterAll(() => {
    redis?.disconnect();
  });

  it('turns away a request that comes for an output while it is being deleted, and lets it make it again afterwards', async () => {
    const key = contentKey(['being deleted'], 'png');
    const other = contentKey(['untouched'], 'png');
    expect(await state.beginOutputDeletion('first', [key])).toEqual([key]);
    const request = randomUUID();
    expect(await state.claimOutputs(request, [key, other])).toEqual([key]);
    // Its claim stands from now on: the next deletion leaves the output alone.
    await state.endOutputDeletion('first', [key]);
    expect(await state.claimOutputs(request, [key])).toEqual([]);
    expect(await state.beginOutputDeletion('second', [key, other])).toEqual([]);
    await state.forgetRequest(request);
    expect(await state.beginOutputDeletion('second', [key, other])).toEqual([key, other]);
    await state.endOutputDeletion('second', [key, other]);
  });

  it('lets one deletion hold an output at a time, and lifts only its own marks', async () => {
    const key = contentKey(['held by one deletion'], 'png');
    expect(await state.beginOutputDeletion('one', [key])).toEqual([key]);
    expect(await state.beginOutputDeletion('two', [key])).toEqual([]);
    await state.endOutputDeletion('two', [key]);
    expect(await state.claimOutputs(randomUUID(), [key])).toEqual([key]);
    await state.endOutputDeletion('one', [key]);
    expect(await state.claimOutputs(randomUUID(), [key])).toEqual([]);
  });
});
