import { Readable } from 'node:stream';
import { type ResultProduct, resultCsvStream } from '@imgsvc/csv';
import {
  type Database,
  type KeptResultFile,
  type ProductWithResult,
  productsInOrder,
  type RequestDocument,
  readResultFile,
  storeResultFile,
} from '@imgsvc/db';

/**
 * Requests of more products than this keep their result CSV when they complete, so that a download streams a
 * few large documents instead of joining every product with its result again (100,000 rows: 200,000 documents,
 * about 16 s on FerretDB). Smaller ones are joined by key in milliseconds, and keep nothing.
 */
export const KEEP_RESULT_ABOVE_PRODUCTS = 1000;

/** Products with their results as the result CSV's rows; a product without a result lost all its images. */
export async function* resultProducts(
  entries: AsyncIterable<ProductWithResult>,
): AsyncIterable<ResultProduct> {
  for await (const { product, result } of entries) {
    yield {
      serialNumber: product.serial_number,
      productName: product.product_name,
      inputUrls: product.input_urls,
      ...(product.input_cell === undefined ? {} : { inputCell: product.input_cell }),
      outputUrls: result?.output_urls ?? product.input_urls.map(() => null),
      errors: (result?.errors ?? []).map((error) => ({
        url: error.url,
        message: `${error.code} (${error.message})`,
      })),
    };
  }
}

type RequestShape = Pick<RequestDocument, '_id' | 'columns' | 'totals' | 'result_file'>;

/** The result CSV joined from the request's products and results as they stand. */
function joinedResultCsv(db: Database, request: RequestShape): Readable {
  return resultCsvStream(
    request.columns,
    resultProducts(productsInOrder(db, request._id, request.totals.products)),
  );
}

/**
 * Writes the result CSV of a request whose products all have their results, when it is large enough to be worth
 * keeping (see KEEP_RESULT_ABOVE_PRODUCTS); what the request document should record of it, or undefined.
 */
export async function keepResultFile(
  db: Database,
  request: RequestShape,
  chunkChars?: number,
): Promise<KeptResultFile | undefined> {
  if (request.totals.products <= KEEP_RESULT_ABOVE_PRODUCTS) return undefined;
  return storeResultFile(db, request._id, joinedResultCsv(db, request), chunkChars);
}

/** The result CSV of a finished request, with its size when it was kept: the kept file, else joined anew. */
export function resultCsv(db: Database, request: RequestShape): { stream: Readable; bytes?: number } {
  if (!request.result_file) return { stream: joinedResultCsv(db, request) };
  return {
    stream: Readable.from(readResultFile(db, request._id, request.result_file), { objectMode: false }),
    bytes: request.result_file.bytes,
  };
}
