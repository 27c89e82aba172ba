import type { Database } from './database.js';
import { type ImageFailure, type ProductDocument, productId, type RequestCounts } from './documents.js';

export function findProduct(db: Database, requestId: string, row: number): Promise<ProductDocument | null> {
  return db.products.findOne({ _id: productId(requestId, row) });
}

export interface ProductResult {
  readonly outputUrls: readonly (string | null)[];
  readonly errors: readonly ImageFailure[];
}

/**
 * Records a product's outcome once. Returns false when it was already recorded (a rerun after a crash),
 * so the caller counts each product's progress once.
 */
export async function recordProductResult(
  db: Database,
  requestId: string,
  row: number,
  result: ProductResult,
  now = new Date(),
): Promise<boolean> {
  const update = await db.products.updateOne(
    { _id: productId(requestId, row), done: false },
    { $set: { output_urls: result.outputUrls, errors: result.errors, done: true, updated_at: now } },
  );
  return update.modifiedCount === 1;
}

/** The products of a request in CSV order, read in batches from a cursor. */
export function productsInOrder(db: Database, requestId: string): AsyncIterable<ProductDocument> {
  return db.products.find({ request_id: requestId }).sort({ request_id: 1, row: 1 }).batchSize(1000);
}

/**
 * Exact totals from the product documents. A product whose job gave up is closed here, each of its images
 * recorded as failed, so that the result is complete.
 */
export async function tallyProducts(
  db: Database,
  requestId: string,
  now = new Date(),
): Promise<RequestCounts> {
  await closeUnfinishedProducts(db, requestId, now);
  let products = 0;
  let succeeded = 0;
  let failed = 0;
  const cursor = db.products
    .find({ request_id: requestId }, { projection: { output_urls: 1, input_urls: 1 } })
    .batchSize(2000);
  for await (const product of cursor) {
    products += 1;
    const ok = product.output_urls.filter((url) => url !== null).length;
    succeeded += ok;
    failed += product.input_urls.length - ok;
  }
  return { products_done: products, images_succeeded: succeeded, images_failed: failed };
}

async function closeUnfinishedProducts(db: Database, requestId: string, now: Date): Promise<void> {
  const unfinished = db.products.find(
    { request_id: requestId, done: false },
    { projection: { input_urls: 1 } },
  );
  for await (const product of unfinished) {
    await db.products.updateOne(
      { _id: product._id, done: false },
      {
        $set: {
          done: true,
          updated_at: now,
          output_urls: product.input_urls.map(() => null),
          errors: product.input_urls.map((url) => ({
            url,
            code: 'processing_failed',
            message: 'the product could not be processed after several attempts',
          })),
        },
      },
    );
  }
}

/**
 * The products of the given rows, in row order, each read by its id: point reads that every MongoDB-compatible
 * server answers from its primary key (FerretDB on SQLite would scan the collection for a range query).
 */
export async function productsByRows(
  db: Database,
  requestId: string,
  rows: readonly number[],
): Promise<ProductDocument[]> {
  const found = await Promise.all(rows.map((row) => db.products.findOne({ _id: productId(requestId, row) })));
  return found.filter((product): product is ProductDocument => product !== null);
}
