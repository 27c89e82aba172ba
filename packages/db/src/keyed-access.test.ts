import { randomUUID } from 'node:crypto';
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMongoUrl } from '../../../test/support/servers.js';
import { connectDatabase, type Database } from './database.js';
import { productId, rowsOf } from './documents.js';
import {
  failedProducts,
  KEYED_READ_ROWS,
  productInputsFrom,
  productsInOrder,
  recordedResults,
  recordProductResult,
  tallyProducts,
} from './products.js';
import {
  deleteRequest,
  findRequest,
  insertRequestWithProducts,
  markRequestCompleted,
  markRequestFailed,
  markRequestInProgress,
  updateWebhookDelivery,
} from './requests.js';

/** The commands that select documents by a filter, with that filter. */
const FILTER_OF: Record<string, (command: CommandStartedEvent['command']) => unknown[]> = {
  find: (command) => [command.filter],
  update: (command) => (command.updates as { q: unknown }[]).map((update) => update.q),
  delete: (command) => (command.deletes as { q: unknown }[]).map((entry) => entry.q),
  findAndModify: (command) => [command.query],
  count: (command) => [command.query],
  aggregate: (command) => [command.pipeline],
};

describe('a request processed with a history stored: every read and write by key', () => {
  let db: Database;
  let url: string;
  const commands: CommandStartedEvent[] = [];
  beforeAll(async () => {
    url = testMongoUrl('keyed_access');
    db = await connectDatabase(url, 'keyed-access-test', { monitorCommands: true });
    db.client.on('commandStarted', (event) => commands.push(event));
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
        inputUrls: [`https://img.example/${index + 1}.jpg`],
      })),
      imageCount: products,
      webhookUrl: 'https://hooks.example/finished',
    });
    return id;
  };
  const collect = async <T>(items: AsyncIterable<T>) => {
    const all: T[] = [];
    for await (const item of items) all.push(item);
    return all;
  };

  it('finds, updates and deletes only by _id, since any other filter makes FerretDB read the whole collection', async () => {
    const id = await request(3);
    commands.length = 0;
    expect((await findRequest(db, id))?.status).toBe('pending');
    await markRequestInProgress(db, id);
    expect((await collect(productInputsFrom(db, id, 2, 3))).map((product) => product.row)).toEqual([2, 3]);
    expect(await recordedResults(db, id, [1, 2, 3])).toEqual([]);
    await recordProductResult(db, id, 1, { outputUrls: ['https://out/1.jpg'], errors: [] });
    await recordProductResult(db, id, 3, {
      outputUrls: [null],
      errors: [{ url: 'https://img.example/3.jpg', code: 'http_404', message: 'the server answered 404' }],
    });
    expect((await recordedResults(db, id, [1, 2, 3])).map((result) => result.row)).toEqual([1, 3]);
    const counts = await tallyProducts(db, id, 3);
    expect(counts).toMatchObject({ products_done: 3, images_succeeded: 1, images_failed: 2 });
    expect(await markRequestCompleted(db, id, counts)).toBe(true);
    expect(await markRequestCompleted(db, id, counts)).toBe(false);
    expect(await markRequestFailed(db, id, 'too late')).toBe(false);
    await updateWebhookDelivery(db, id, { state: 'delivered', attempts: 1 });
    const listed = await collect(productsInOrder(db, id, 3));
    expect(listed.map(({ product, result }) => [product.row, result?.output_urls])).toEqual([
      [1, ['https://out/1.jpg']],
      [2, [null]],
      [3, [null]],
    ]);
    expect((await failedProducts(db, id, 3)).map((product) => product.inputUrls)).toEqual([
      ['https://img.example/2.jpg'],
      ['https://img.example/3.jpg'],
    ]);
    const stored = await findRequest(db, id);
    expect(stored).toMatchObject({
      status: 'completed',
      counts,
      webhook: { state: 'delivered', attempts: 1 },
    });
    expect(stored?.started_at).toBeInstanceOf(Date);

    const selections = commands.flatMap((event) =>
      (FILTER_OF[event.commandName]?.(event.command) ?? []).map((filter) => ({
        command: event.commandName,
        filter,
      })),
    );
    expect(selections.length).toBeGreaterThan(10);
    for (const selection of selections) {
      expect(selection).toEqual({ command: selection.command, filter: { _id: expect.any(String) } });
    }
  });

  it('has the server find a document by its key through an index, not by reading the collection', async () => {
    const id = await request(1);
    for (const collection of [db.requests, db.products] as const) {
      const key = collection === db.requests ? id : productId(id, 1);
      const plan = JSON.stringify(
        (await collection.find({ _id: key }).explain()).queryPlanner as Record<string, unknown>,
      );
      // FerretDB on SQLite answers with SQLite's own plan; MongoDB with its stages.
      expect(plan).toMatch(/USING INDEX|IDHACK|EXPRESS_IXSCAN|IXSCAN/);
      expect(plan).not.toMatch(/detail=SCAN|COLLSCAN/);
    }
  });

  it('reads a request larger than reads by key suit in one pass, in row order', async () => {
    const rows = KEYED_READ_ROWS + 5;
    const id = await request(rows);
    const inputs = await collect(productInputsFrom(db, id, 3, rows));
    expect(inputs.map((product) => product.row)).toEqual(Array.from({ length: rows - 2 }, (_, i) => i + 3));
    const listed = await collect(productsInOrder(db, id, rows));
    expect(listed).toHaveLength(rows);
    expect(listed.at(-1)?.product.row).toBe(rows);
  });

  it("reads and removes a large request by ranges of its ids, never another request's rows", async () => {
    const rows = KEYED_READ_ROWS + 5;
    const [id, other] = [await request(rows), await request(rows)];
    for (const row of [1, rows])
      await recordProductResult(db, id, row, { outputUrls: ['https://out/1.jpg'], errors: [] });
    await recordProductResult(db, other, 1, { outputUrls: ['https://out/2.jpg'], errors: [] });
    commands.length = 0;
    expect(await collect(productInputsFrom(db, id, rows - 1, rows))).toEqual([
      { row: rows - 1, input_urls: [`https://img.example/${rows - 1}.jpg`] },
      { row: rows, input_urls: [`https://img.example/${rows}.jpg`] },
    ]);
    const listed = await collect(productsInOrder(db, id, rows));
    expect(listed.map(({ product }) => product.request_id)).toEqual(Array(rows).fill(id));
    expect(listed.filter(({ result }) => result !== null).map(({ product }) => product.row)).toEqual([
      1,
      rows,
    ]);
    expect(await tallyProducts(db, other, rows)).toMatchObject({ products_done: rows, images_succeeded: 1 });

    await deleteRequest(db, id);
    // Every read and removal of products and results selected by the primary key alone.
    const filters = commands
      .filter((event) => ['products', 'results'].includes(String(event.command[event.commandName])))
      .flatMap((event) => FILTER_OF[event.commandName]?.(event.command) ?? []);
    expect(filters.length).toBeGreaterThan(4);
    for (const filter of filters) expect(Object.keys(filter as object)).toEqual(['_id']);
    expect(await db.products.countDocuments(rowsOf(id))).toBe(0);
    expect(await db.results.countDocuments(rowsOf(id))).toBe(0);
    expect(await db.products.countDocuments(rowsOf(other))).toBe(rows);
    expect(await db.results.countDocuments(rowsOf(other))).toBe(rows);
  });

  it('keeps no index of (request_id, row), which earlier versions made and every insert paid for', async () => {
    for (const collection of [db.products, db.results]) {
      await collection.createIndex({ request_id: 1, row: 1 }, { unique: true, name: 'request_row' });
    }
    const again = await connectDatabase(url, 'keyed-access-test');
    try {
      for (const collection of [again.products, again.results]) {
        const names = (await collection.indexes()).map((index) => index.name);
        expect(names).not.toContain('request_row');
      }
      expect((await again.results.indexes()).map((index) => index.name)).toContain('output_keys');
    } finally {
      await again.close();
    }
  });
});
