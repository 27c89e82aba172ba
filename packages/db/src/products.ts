import {
  addCounts,
  type ImageFailure,
  outputKeyOf,
  type ProductInput,
  productGaveUp,
  type RequestCounts,
  ZERO_COUNTS,
} from '@imgsvc/domain';
import { MongoServerError } from 'mongodb';
import type { Database } from './database.js';
import {
  type ImageSizes,
  type ProductDocument,
  type ProductResultDocument,
  productId,
  rowsOf,
} from './documents.js';

const DUPLICATE_KEY = 11000;

/**
 * Requests of at most this many products are read a product at a time by key rather than by a range of ids
 * (`rowsOf`): a filter on anything but one `_id` makes FerretDB on SQLite read the whole collection, which grows
 * with every request ever stored, while a read by key costs the same whatever the history. A larger request is
 * read in one ranged pass, whose cost its many rows share.
 */
export const KEYED_READ_ROWS = 1000;
/** Reads by key in flight at once. */
const KEYED_READ_CONCURRENCY = 50;

/** The rows first..last, in order. */
const rowRange = (first: number, last: number) =>
  Array.from({ length: Math.max(0, last - first + 1) }, (_, index) => first + index);

/** The given rows read by key, a chunk at a time, in their order; the absent ones skipped. */
async function* readRowsByKey<T>(
  rows: readonly number[],
  read: (row: number) => Promise<T | null>,
): AsyncIterable<T> {
  for (let index = 0; index < rows.length; index += KEYED_READ_CONCURRENCY) {
    const chunk = rows.slice(index, index + KEYED_READ_CONCURRENCY);
    for (const found of await Promise.all(chunk.map(read))) if (found !== null) yield found;
  }
}

/** The inputs of a request's products from a row on, in row order (for fanning out their jobs). */
export function productInputsFrom(
  db: Database,
  requestId: string,
  fromRow: number,
  totalProducts: number,
): AsyncIterable<Pick<ProductDocument, 'row' | 'input_urls'>> {
  const projection = { _id: 0, row: 1, input_urls: 1 } as const;
  if (totalProducts - fromRow < KEYED_READ_ROWS) {
    return readRowsByKey(rowRange(fromRow, totalProducts), (row) =>
      db.products.findOne<Pick<ProductDocument, 'row' | 'input_urls'>>(
        { _id: productId(requestId, row) },
        { projection },
      ),
    );
  }
  return db.products.find(rowsOf(requestId, fromRow), { projection }).sort({ _id: 1 }).batchSize(1000);
}

function findProduct(db: Database, requestId: string, row: number): Promise<ProductDocument | null> {
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
  /** Aligned with outputUrls, when known. */
  readonly imageSizes?: readonly (ImageSizes | null)[];
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
      output_keys: [
        ...new Set(result.outputUrls.map((url) => (url === null ? undefined : outputKeyOf(url)))),
      ].filter((key): key is string => key !== undefined),
      errors: result.errors,
      ...(result.imageSizes ? { image_sizes: result.imageSizes } : {}),
      recorded_at: now,
    });
    return true;
  } catch (error) {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
    throw error;
  }
}

/** The results already recorded among the given rows of a request (a rerun's fan-out skips them), by key. */
export async function recordedResults(
  db: Database,
  requestId: string,
  rows: readonly number[],
): Promise<Pick<ProductResultDocument, 'row' | 'output_urls' | 'errors'>[]> {
  const recorded: Pick<ProductResultDocument, 'row' | 'output_urls' | 'errors'>[] = [];
  const results = readRowsByKey(rows, (row) =>
    db.results.findOne<Pick<ProductResultDocument, 'row' | 'output_urls' | 'errors'>>(
      { _id: productId(requestId, row) },
      { projection: { _id: 0, row: 1, output_urls: 1, errors: 1 } },
    ),
  );
  for await (const result of results) recorded.push(result);
  return recorded;
}

export interface ProductWithResult {
  readonly product: ProductDocument;
  /** Null while the product has not been processed. */
  readonly result: ProductResultDocument | null;
}

/**
 * The products of a request in CSV order with their results. A small request's are read by key; a larger
 * one's from two cursors sorted by id (ids sort in row order) and joined as they stream, so memory stays flat
 * whatever the size.
 */
export async function* productsInOrder(
  db: Database,
  requestId: string,
  totalProducts: number,
): AsyncIterable<ProductWithResult> {
  if (totalProducts <= KEYED_READ_ROWS) {
    yield* readRowsByKey(rowRange(1, totalProducts), (row) => productWithResult(db, requestId, row));
    return;
  }
  const results = db.results.find(rowsOf(requestId)).sort({ _id: 1 }).batchSize(1000)[Symbol.asyncIterator]();
  let pending = await results.next();
  for await (const product of db.products.find(rowsOf(requestId)).sort({ _id: 1 }).batchSize(1000)) {
    while (!pending.done && pending.value._id < product._id) pending = await results.next();
    const result = !pending.done && pending.value._id === product._id ? pending.value : null;
    yield { product, result };
  }
  await results.return?.();
}

/** A product with its result, each read by its primary key; null when there is no such product. */
async function productWithResult(
  db: Database,
  requestId: string,
  row: number,
): Promise<ProductWithResult | null> {
  const [product, result] = await Promise.all([
    findProduct(db, requestId, row),
    findProductResult(db, requestId, row),
  ]);
  return product ? { product, result } : null;
}

/** The products of the given rows with their results, in row order, each read by its primary key. */
export async function productsByRows(
  db: Database,
  requestId: string,
  rows: readonly number[],
): Promise<ProductWithResult[]> {
  const found = await Promise.all(rows.map((row) => productWithResult(db, requestId, row)));
  return found.filter((entry): entry is ProductWithResult => entry !== null);
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
  let counts = ZERO_COUNTS;
  const count = (result: Pick<ProductResultDocument, 'output_urls' | 'errors'>) => {
    const succeeded = result.output_urls.filter((url) => url !== null).length;
    counts = addCounts(counts, {
      products: 0,
      succeeded,
      failureCodes: result.errors.map((failure) => failure.code),
    });
  };
  const projection = { row: 1, output_urls: 1, 'errors.code': 1 } as const;
  const results: AsyncIterable<Pick<ProductResultDocument, 'row' | 'output_urls' | 'errors'>> =
    totalProducts <= KEYED_READ_ROWS
      ? readRowsByKey(rowRange(1, totalProducts), (row) =>
          db.results.findOne<Pick<ProductResultDocument, 'row' | 'output_urls' | 'errors'>>(
            { _id: productId(requestId, row) },
            { projection },
          ),
        )
      : db.results.find(rowsOf(requestId), { projection });
  for await (const result of results) {
    recorded.add(result.row);
    count(result);
  }
  for (let row = 1; row <= totalProducts; row += 1) {
    if (recorded.has(row)) continue;
    const product = await findProduct(db, requestId, row);
    if (!product) continue;
    const closing = {
      outputUrls: product.input_urls.map(() => null),
      errors: product.input_urls.map(productGaveUp),
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
  return { ...counts, products_done: recorded.size };
}

/**
 * The products of a finished request whose images did not all succeed, each with only the URLs that failed
 * (in order, a repeated one repeated), renumbered from 1: what a retry of the request processes. A product
 * without a result (its job gave up) failed as a whole.
 */
export async function failedProducts(
  db: Database,
  requestId: string,
  totalProducts: number,
): Promise<ProductInput[]> {
  const failed: ProductInput[] = [];
  for await (const { product, result } of productsInOrder(db, requestId, totalProducts)) {
    const urls = product.input_urls.filter((_, index) => !result || result.output_urls[index] === null);
    if (urls.length === 0) continue;
    failed.push({
      row: failed.length + 1,
      serialNumber: product.serial_number,
      productName: product.product_name,
      inputUrls: urls,
      inputCell: urls.join(', '),
    });
  }
  return failed;
}
