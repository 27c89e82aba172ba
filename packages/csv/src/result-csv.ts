import { pipeline, Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { InputColumn } from './header.js';

export interface ResultProduct {
  readonly serialNumber: number;
  readonly productName: string;
  readonly inputUrls: readonly string[];
  /** The URL cell as the client wrote it, echoed as it is; without it, the URLs joined with ", ". */
  readonly inputCell?: string;
  /** Aligned with inputUrls; null where that image failed or was not processed. */
  readonly outputUrls: readonly (string | null)[];
  readonly errors: readonly { readonly url: string; readonly message: string }[];
}

const OUTPUT_URLS_COLUMN = 'Output Image Urls';
const ERRORS_COLUMN = 'Errors';
const URL_SEPARATOR = ', ';
const ERROR_SEPARATOR = '; ';

/**
 * A cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's CSV injection advice);
 * every other cell is written as it is.
 */
export function neutraliseFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

function resultHeader(columns: readonly InputColumn[]): string[] {
  return [...columns.map((column) => column.name), OUTPUT_URLS_COLUMN, ERRORS_COLUMN].map(neutraliseFormula);
}

function resultRow(columns: readonly InputColumn[], product: ResultProduct): string[] {
  const inputCells: Record<InputColumn['role'], string> = {
    serial_number: String(product.serialNumber),
    product_name: product.productName,
    input_image_urls: product.inputCell ?? product.inputUrls.join(URL_SEPARATOR),
  };
  const outputs = product.inputUrls.map((_, index) => product.outputUrls[index] ?? '').join(URL_SEPARATOR);
  const errors = product.errors.map((error) => `${error.url}: ${error.message}`).join(ERROR_SEPARATOR);
  return [
    ...columns.map((column) => inputCells[column.role]),
    outputs.trim() === '' ? '' : outputs,
    errors,
  ].map(neutraliseFormula);
}

/** Streams the result CSV: header, then one row per product in the order the products arrive. */
export function resultCsvStream(
  columns: readonly InputColumn[],
  products: AsyncIterable<ResultProduct>,
): Readable {
  const rows = Readable.from(
    (async function* () {
      yield resultHeader(columns);
      for await (const product of products) yield resultRow(columns, product);
    })(),
  );
  // RFC 4180: a cell holding a line break of any kind is quoted, not only one holding the record delimiter
  // (csv-stringify's default), so no reader can see a bare CR or LF as the start of another row.
  const csv = stringify({ record_delimiter: '\r\n', quoted_match: /[\r\n]/ });
  // pipeline, not pipe: a failing source (a lost database cursor) must abort the download, not truncate it.
  pipeline(rows, csv, () => {});
  return csv;
}
