import { StringDecoder } from 'node:string_decoder';
import type { ProductInput, ReadingWarning } from '@imgsvc/domain';
import { type CsvRecord, CsvRecordError, CsvRecordReader } from './csv-records.js';
import { type ColumnRole, type InputColumn, readHeader } from './header.js';
import { imageUrlSchema } from './image-urls.js';
import { InputInspector } from './input-checks.js';
import { productRowSchema } from './row-schema.js';

export interface ProductRow extends ProductInput {
  /** Line of the input file where the record starts, for error messages. */
  readonly line: number;
}

export interface ParsedProductCsv {
  readonly columns: readonly InputColumn[];
  /** Every product, in order; empty when they were handed to a `ProductSink` instead. */
  readonly products: readonly ProductRow[];
  readonly productCount: number;
  readonly imageCount: number;
  /** What the file needed read in a way of its own (each kind once, with its first line). */
  readonly warnings: readonly ReadingWarning[];
}

/**
 * Takes checked products in order, a batch at a time, while the file is still being read (to store them as
 * they come, so that a large file is never held whole). Given only while every row so far is valid; the
 * reading waits for it, so a slow store slows the upload rather than filling memory.
 */
export type ProductSink = (products: readonly ProductRow[]) => Promise<void>;

/** Products handed to a sink at once. */
const SINK_BATCH = 1000;

export interface CsvLimits {
  readonly maxRows: number;
  readonly maxUrlsPerRow: number;
}

export interface RowProblem {
  readonly line: number;
  readonly column?: string;
  readonly message: string;
}

export type CsvErrorCode =
  | 'csv_malformed'
  | 'csv_not_utf8'
  | 'csv_binary'
  | 'csv_empty'
  | 'csv_header'
  | 'csv_no_rows'
  | 'csv_invalid_rows'
  | 'csv_too_many_rows';

/** Why a CSV was refused; `errors` lists row problems (the first MAX_REPORTED_ERRORS of `totalErrors`). */
export class CsvError extends Error {
  override name = 'CsvError';
  constructor(
    readonly code: CsvErrorCode,
    message: string,
    readonly errors: readonly RowProblem[] = [],
    readonly totalErrors = errors.length,
  ) {
    super(message);
  }
}

const MAX_REPORTED_ERRORS = 100;
/** A record longer than this is refused: no row of valid input comes near it, an unclosed quote does. */
const MAX_RECORD_LENGTH = 128 * 1024;

/**
 * The URL cell of a row whose URL list was written without quotes, when that is its one reading: the URL
 * column is the last one, and every cell past it is an http(s) URL (or empty, as a trailing comma leaves);
 * undefined otherwise. The cells are joined with commas, as the quoted cell would have been written.
 */
function joinUnquotedUrlList(
  record: readonly string[],
  width: number,
  urlColumn: number,
): string | undefined {
  if (record.length <= width || urlColumn !== width - 1) return undefined;
  const extra = record.slice(width);
  const isUrl = (cell: string) => imageUrlSchema.safeParse(cell.trim()).success;
  if (!extra.every((cell) => cell.trim() === '' || isUrl(cell))) return undefined;
  if (!isUrl(record[urlColumn] ?? '')) return undefined;
  return record.slice(urlColumn).join(',');
}

/**
 * The apostrophe result files put before a cell a spreadsheet would run as a formula (see neutraliseFormula),
 * and spreadsheets use to mark text: not part of the value.
 */
const FORMULA_PROTECTION = /^'[=+\-@\t\r]/;

function unprotected(cell: string): string {
  return FORMULA_PROTECTION.test(cell) ? cell.slice(1) : cell;
}

function delimiterHint(cells: readonly string[]): string | undefined {
  if (cells.length !== 1) return undefined;
  const only = cells[0] ?? '';
  const found = [';', '\t', '|'].find((candidate) => only.includes(candidate));
  if (!found) return undefined;
  const name = found === '\t' ? 'tabs' : `"${found}"`;
  return `the columns seem to be separated by ${name}; separate them with commas`;
}

/**
 * Reads a product CSV from a byte stream and checks every row with the row schema. Resolves with all products
 * (or, given a sink, with their count, the products having gone to the sink as they were read) only when the
 * whole file is valid; otherwise rejects with a CsvError that says what is wrong and where, and a sink's
 * products are the caller's to take back.
 * The input is always read to its end, so that whatever carries it (a multipart upload) ends cleanly.
 */
export async function parseProductCsv(
  input: AsyncIterable<Buffer | string>,
  limits: CsvLimits,
  sink?: ProductSink,
): Promise<ParsedProductCsv> {
  const inspector = new InputInspector();
  const chunks = input[Symbol.asyncIterator]();
  /** The rest of the input, read to its end and dropped: whatever carries it (a multipart upload) ends cleanly. */
  const drain = async () => {
    try {
      while (!(await chunks.next()).done) {
        // dropped
      }
    } catch {
      // The input itself failed (too large, the client gone): its own error is already on its way.
    }
  };
  const reader = new CsvRecordReader(MAX_RECORD_LENGTH);
  async function* records(): AsyncGenerator<CsvRecord> {
    const decoder = new StringDecoder('utf8');
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      const bytes = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      const problem = inspector.inspect(bytes);
      if (problem) throw new CsvError(problem.code, problem.message);
      yield* reader.push(decoder.write(bytes));
    }
    const problem = inspector.finish();
    if (problem) throw new CsvError(problem.code, problem.message);
    yield* reader.push(decoder.end());
    yield* reader.finish();
  }

  const schema = productRowSchema(limits.maxUrlsPerRow);
  let columns: readonly InputColumn[] | undefined;
  let positions: Readonly<Record<ColumnRole, number>> | undefined;
  let width = 0;
  const warnings: ReadingWarning[] = [];
  let dottedSerials: { line: number; written: string; count: number } | undefined;
  let unquotedLists: { line: number; count: number } | undefined;
  let protectedCells: { line: number } | undefined;
  let products: ProductRow[] = [];
  let productCount = 0;
  const problems: RowProblem[] = [];
  let totalProblems = 0;
  let dataRows = 0;
  let imageCount = 0;
  const seenSerials = new Map<number, number>();
  const report = (problem: RowProblem) => {
    totalProblems += 1;
    if (problems.length < MAX_REPORTED_ERRORS) problems.push(problem);
  };
  // The batch the sink is storing: the next one is read meanwhile (the database and the parser each have a
  // core) and handed over once it is stored, so batches arrive in order and one at a time.
  let storing: Promise<void> | undefined;
  const handOver = async (batch: ProductRow[]) => {
    if (!sink) return;
    await storing;
    const stored = sink(batch);
    // Awaited before the next batch or the end; a failure meanwhile is not an unhandled rejection.
    stored.catch(() => {});
    storing = stored;
  };

  try {
    for await (const { cells: record, line } of records()) {
      if (record.every((cell) => cell.trim() === '')) continue;
      if (!columns || !positions) {
        const hint = delimiterHint(record);
        if (hint) throw new CsvError('csv_header', hint);
        const header = readHeader(record);
        if (!header.ok) throw new CsvError('csv_header', header.message);
        columns = header.columns;
        positions = header.positions;
        width = header.width;
        if (header.ignored.length > 0) {
          warnings.push({
            line,
            message: `the result column${header.ignored.length === 1 ? '' : 's'} ${header.ignored.map((name) => `"${name}"`).join(', ')} ignored: every image is processed again (outputs already stored are found, not made again)`,
          });
        }
        continue;
      }
      dataRows += 1;
      if (dataRows > limits.maxRows) {
        throw new CsvError('csv_too_many_rows', `the file has more than ${limits.maxRows} product rows`);
      }
      // A list of URLs written without quotes in the last column: its extra cells are more of its URLs, the one
      // reading they have (a trailing comma adds an empty one).
      const joined = joinUnquotedUrlList(record, width, positions.input_image_urls);
      if (joined) {
        record.splice(width - 1, record.length, joined);
        if (unquotedLists) unquotedLists.count += 1;
        else unquotedLists = { line, count: 1 };
      }
      if (record.length !== width) {
        report({
          line,
          message: `expected ${width} cells, found ${record.length} (quote cells that contain commas)`,
        });
        continue;
      }
      const cells = {
        serial_number: unprotected(record[positions.serial_number] ?? ''),
        product_name: unprotected(record[positions.product_name] ?? ''),
        input_image_urls: unprotected(record[positions.input_image_urls] ?? ''),
      };
      if (
        !protectedCells &&
        [positions.serial_number, positions.product_name, positions.input_image_urls].some((position) =>
          FORMULA_PROTECTION.test(record[position] ?? ''),
        )
      ) {
        protectedCells = { line };
      }
      const checked = schema.safeParse(cells);
      const issues = checked.success ? [] : checked.error.issues;
      for (const issue of issues) {
        const role = issue.path[0] as ColumnRole;
        report({ line, column: columns[positions[role]]?.name ?? role, message: issue.message });
      }
      // Serial numbers are checked for repeats even on rows with other problems, so one pass finds them all.
      const serialValid = !issues.some((issue) => issue.path[0] === 'serial_number');
      const serialNumber = checked.success ? checked.data.serial_number : Number(cells.serial_number.trim());
      if (serialValid) {
        const firstLine = seenSerials.get(serialNumber);
        if (firstLine !== undefined) {
          report({
            line,
            column: columns[positions.serial_number]?.name ?? 'serial_number',
            message: `serial number ${serialNumber} repeats line ${firstLine}`,
          });
          continue;
        }
        seenSerials.set(serialNumber, line);
      }
      if (!checked.success) continue;
      const writtenSerial = cells.serial_number.trim();
      if (writtenSerial.endsWith('.')) {
        if (dottedSerials) dottedSerials.count += 1;
        else dottedSerials = { line, written: writtenSerial, count: 1 };
      }
      const { product_name: productName, input_image_urls: inputUrls } = checked.data;
      if (totalProblems > 0) {
        products = []; // the file is refused anyway: keep only its problems
        continue;
      }
      productCount += 1;
      products.push({
        row: productCount,
        line,
        serialNumber,
        productName,
        inputUrls,
        inputCell: cells.input_image_urls,
      });
      imageCount += inputUrls.length;
      if (sink && products.length >= SINK_BATCH) {
        await handOver(products);
        products = [];
      }
    }
    if (sink && totalProblems === 0 && products.length > 0) {
      await handOver(products);
      products = [];
    }
    await storing;
  } catch (error) {
    // No batch is left being stored when the caller hears of the failure (and takes the products back).
    await storing?.catch(() => {});
    // Stop reading the CSV, but let the input run to its end.
    await drain();
    if (error instanceof CsvRecordError) {
      throw new CsvError(
        'csv_malformed',
        `the file is not well-formed CSV at line ${error.line}: ${error.message}`,
      );
    }
    throw error;
  }

  if (!columns)
    throw new CsvError('csv_empty', 'the file is empty; it needs a header and at least one product row');
  if (totalProblems > 0) {
    throw new CsvError(
      'csv_invalid_rows',
      `${totalProblems} problem${totalProblems === 1 ? '' : 's'} in the rows; nothing was stored`,
      problems,
      totalProblems,
    );
  }
  if (productCount === 0) throw new CsvError('csv_no_rows', 'the file has a header but no product rows');
  if (reader.quirks.quoteInCell !== undefined) {
    warnings.push({
      line: reader.quirks.quoteInCell,
      message:
        'a quote inside a cell not quoted as a whole read as a character of the cell (as spreadsheets and Python read it)',
    });
  }
  if (reader.quirks.textAfterQuote !== undefined) {
    warnings.push({
      line: reader.quirks.textAfterQuote,
      message:
        "text after a cell's closing quote kept as part of the cell (as spreadsheets and Python read it)",
    });
  }
  if (protectedCells) {
    warnings.push({
      line: protectedCells.line,
      message:
        'a leading apostrophe before =, +, -, @ or a tab read as the protection result files and spreadsheets add, and left out',
    });
  }
  if (unquotedLists) {
    const others = unquotedLists.count - 1;
    warnings.push({
      line: unquotedLists.line,
      message: `image URLs not quoted: the cells after the last column read as more URLs of the list${others > 0 ? ` (and on ${others} more line${others === 1 ? '' : 's'})` : ''}`,
    });
  }
  if (dottedSerials) {
    const others = dottedSerials.count - 1;
    warnings.push({
      line: dottedSerials.line,
      message: `serial number "${dottedSerials.written}" read as ${dottedSerials.written.slice(0, -1)}${others > 0 ? ` (and ${others} more written with a final dot)` : ''}`,
    });
  }
  warnings.sort((a, b) => a.line - b.line);
  return { columns, products, productCount, imageCount, warnings };
}
