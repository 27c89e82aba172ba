import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMongoUrl } from '../../../test/support/servers.js';
import { connectDatabase, type Database } from './database.js';
import { findProductResult, recordProductResult, tallyProducts } from './products.js';
import { insertRequestWithProducts } from './requests.js';

describe("a request's exact counts, on a real MongoDB-compatible server", () => {
  let db: Database;
  beforeAll(async () => {
    db = await connectDatabase(testMongoUrl('tally'), 'tally-test');
  });
  afterAll(async () => {
    await db?.close();
  });

  const request = async (products: number) => {
    const id = randomUUID();
    await insertRequestWithProducts(db, {
      id,
      owner: null,
      columns: [],
      products: Array.from({ length: products }, (_, index) => ({
        row: index + 1,
        serialNumber: index + 1,
        productName: `P${index + 1}`,
        inputUrls: [`https://img.example/${index + 1}a.jpg`, `https://img.example/${index + 1}b.jpg`],
      })),
      imageCount: products * 2,
      webhookUrl: null,
    });
    return id;
  };

  it('counts recorded results, and closes the products whose jobs gave up as processing_failed', async () => {
    const id = await request(3);
    expect(
      await recordProductResult(db, id, 1, {
        outputUrls: ['https://out/1a.jpg', null],
        errors: [{ url: 'https://img.example/1b.jpg', code: 'http_404', message: 'the server answered 404' }],
      }),
    ).toBe(true);
    // Rows 2 and 3 never got a result: their jobs gave up.
    expect(await tallyProducts(db, id, 3)).toEqual({
      products_done: 3,
      images_succeeded: 1,
      images_failed: 5,
      failures_by_code: { http_404: 1, processing_failed: 4 },
    });
    const closed = await findProductResult(db, id, 2);
    expect(closed?.output_urls).toEqual([null, null]);
    expect(closed?.errors.map((failure) => failure.code)).toEqual(['processing_failed', 'processing_failed']);
    // Counting again gives the same counts and records nothing twice.
    expect(await tallyProducts(db, id, 3)).toMatchObject({ products_done: 3, images_failed: 5 });
    expect(await db.results.countDocuments({ request_id: id })).toBe(3);
  });

  it('keeps the first record of a product: a rerun cannot record it twice', async () => {
    const id = await request(1);
    const first = { outputUrls: ['https://out/a.jpg', 'https://out/b.jpg'], errors: [] };
    expect(await recordProductResult(db, id, 1, first)).toBe(true);
    expect(await recordProductResult(db, id, 1, { outputUrls: [null, null], errors: [] })).toBe(false);
    expect((await findProductResult(db, id, 1))?.output_urls).toEqual(first.outputUrls);
    expect(await tallyProducts(db, id, 1)).toMatchObject({ images_succeeded: 2, images_failed: 0 });
  });
});
