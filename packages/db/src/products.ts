import { MongoServerError } from 'mongodb';
import type { Database } from './database.js';
import {
  type ImageFailure,
  type ProductDocument,
  type ProductResultDocument,
  productId,
  type RequestCounts,
} from './documents.js';

const DUPLICATE_KEY = 11000;

/** The inputs of a request's products from a row on, in row order (for fanning out their jobs). */
export function productInputsFrom(
  db: Database,
  requestId: string,
  fromRow: number,
): AsyncIterable<Pick<ProductDocument, 'row' | 'input_urls'>> {
  return db.products
    .find(
      { request_id: requestId, row: { $gte: fromRow } },
      { projection: { _id: 0, row: 1, input_urls: 1 } },
    )
    .sort({ row: 1 })
    .batchSize(1000);
}

export function findProduct(db: Database, requestId: string, row: number): Promise<ProductDocument | null> {
  return db.products.findOne({ _id: productId(requestId, row) });
}

export function findProductResult(
  db: Database,
  requestId: string,
  row: number,
): Promise<ProductResultDocument | null> {
  return db.results.findOne({ _id: productId(requestId, row) });
}

export interface ProductResult {
  readonly outputUrls: readonly (string | null)[];
  readonly errors: readonly ImageFailure[];
}

/**
 * Records a product's outcome once. Returns false when it was already recorded (a rerun after a crash): the
 * first record stands.
 */
export async function recordProductResult(
  db: Database,
  requestId: string,
  row: number,
  result: ProductResult,
  now = new Date(),
): Promise<boolean> {
  try {
    await db.results.insertOne({
      _id: productId(requestId, row),
      request_id: requestId,
      row,
      output_urls: result.outputUrls,
      errors: result.errors,
      recorded_at: now,
    });
    return true;
  } catch (error) {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
    throw error;
  }
}

export interface ProductWithResult {
  readonly product: ProductDocument;
  /** Null while the product has not been processed. */
  readonly result: ProductResultDocument | null;
}

/**
 * The products of a request in CSV order with their results, read from two cursors sorted by id (ids sort in
 * row order) and joined as they stream, so memory stays flat whatever the size.
 */
export async function* productsInOrder(db: Database, requestId: string): AsyncIterable<ProductWithResult> {
  const results = db.results
    .find({ request_id: requestId })
    .sort({ _id: 1 })
    .batchSize(1000)
    [Symbol.asyncIterator]();
  let pending = await results.next();
  for await (const product of db.products.find({ request_id: requestId }).sort({ _id: 1 }).batchSize(1000)) {
    while (!pending.done && pending.value._id < product._id) pending = await results.next();
    const result = !pending.done && pending.value._id === product._id ? pending.value : null;
    yield { product, result };
  }
  await results.return?.();
}

/** The products of the given rows with their results, in row order, each read by its primary key. */
export async function productsByRows(
  db: Database,
  requestId: string,
  rows: readonly number[],
): Promise<ProductWithResult[]> {
  const found = await Promise.all(
    rows.map(async (row) => {
      const [product, result] = await Promise.all([
        findProduct(db, requestId, row),
        findProductResult(db, requestId, row),
      ]);
      return product ? { product, result } : undefined;
    }),
  );
  return found.filter((entry): entry is ProductWithResult => entry !== undefined);
}

/**
 * Exact totals from the results. A product whose job gave up gets its result here, each of its images recorded
 * as failed, so that the request's result is complete.
 */
export async function tallyProducts(
  db: Database,
  requestId: string,
  totalProducts: number,
  now = new Date(),
): Promise<RequestCounts> {
  const recorded = new Set<number>();
  let succeeded = 0;
  let failed = 0;
  const failuresByCode: Record<string, number> = {};
  const count = (result: Pick<ProductResultDocument, 'output_urls' | 'errors'>) => {
    const ok = result.output_urls.filter((url) => url !== null).length;
    succeeded += ok;
    failed += result.output_urls.length - ok;
    for (const { code } of result.errors) failuresByCode[code] = (failuresByCode[code] ?? 0) + 1;
  };
  for await (const result of db.results.find(
    { request_id: requestId },
    { projection: { row: 1, output_urls: 1, 'errors.code': 1 } },
  )) {
    recorded.add(result.row);
    count(result);
  }
  for (let row = 1; row <= totalProducts; row += 1) {
    if (recorded.has(row)) continue;
    const product = await findProduct(db, requestId, row);
    if (!product) continue;
    const closing = {
      outputUrls: product.input_urls.map(() => null),
      errors: product.input_urls.map((url) => ({
        url,
        code: 'processing_failed',
        message: 'the product could not be processed after several attempts',
      })),
    };
    if (await recordProductResult(db, requestId, row, closing, now)) {
      count({ output_urls: closing.outputUrls, errors: closing.errors });
    } else {
      // Recorded meanwhile by a late job: count what it recorded.
      const late = await findProductResult(db, requestId, row);
      if (late) count(late);
    }
    recorded.add(row);
  }
  return {
    products_done: recorded.size,
    images_succeeded: succeeded,
    images_failed: failed,
    failures_by_code: failuresByCode,
  };
}
