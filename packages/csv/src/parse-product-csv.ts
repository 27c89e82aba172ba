import type { Writable } from 'node:stream';
import { parse } from 'csv-parse';
import { type InputColumn, readHeader } from './header.js';
import { readImageUrlCell } from './image-urls.js';

export interface ProductRow {
  /** 1-based position among the data rows; the result CSV keeps this order. */
  readonly row: number;
  /** Line of the input file where the record starts, for error messages. */
  readonly line: number;
  readonly serialNumber: number;
  readonly productName: string;
  readonly inputUrls: readonly string[];
}

export interface ParsedProductCsv {
  readonly columns: readonly InputColumn[];
  readonly products: readonly ProductRow[];
  readonly imageCount: number;
}

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

export const MAX_REPORTED_ERRORS = 100;
export const MAX_PRODUCT_NAME_LENGTH = 500;

class UtfCheck {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  check(chunk: Buffer): void {
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      throw new CsvError(
        'csv_not_utf8',
        'the file is not valid UTF-8 text; save it as CSV UTF-8 and try again',
      );
    }
  }
  finish(): void {
    try {
      this.decoder.decode();
    } catch {
      throw new CsvError('csv_not_utf8', 'the file ends in the middle of a UTF-8 character');
    }
  }
}

interface CsvParseError extends Error {
  code?: string;
  lines?: number;
}

/**
 * Reads a product CSV from a byte stream and checks every row. Resolves with all products only when the whole
 * file is valid; otherwise rejects with a CsvError that says what is wrong and where.
 */
export async function parseProductCsv(
  input: AsyncIterable<Buffer | string>,
  limits: CsvLimits,
): Promise<ParsedProductCsv> {
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    info: true,
  });
  const utf = new UtfCheck();
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        // Once the reader has stopped (a limit or an error), read the rest of the input and drop it, so that
        // whatever carries it (a multipart upload) still ends cleanly.
        if (parser.destroyed) continue;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        try {
          utf.check(bytes);
        } catch (error) {
          parser.destroy(error as Error);
          continue;
        }
        if (!parser.write(bytes)) await drainedOrClosed(parser);
      }
      if (!parser.destroyed) {
        utf.finish();
        parser.end();
      }
    } catch (error) {
      // The input itself failed (too large, aborted) or the last bytes were not UTF-8.
      parser.destroy(error as Error);
    }
  })();

  let columns: readonly InputColumn[] | undefined;
  const products: ProductRow[] = [];
  const problems: RowProblem[] = [];
  let totalProblems = 0;
  let imageCount = 0;
  const seenSerials = new Map<number, number>();
  const report = (problem: RowProblem) => {
    totalProblems += 1;
    if (problems.length < MAX_REPORTED_ERRORS) problems.push(problem);
  };

  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      const line = info.lines;
      if (record.every((cell) => cell.trim() === '')) continue;
      if (!columns) {
        const header = readHeader(record);
        if (!header.ok) throw new CsvError('csv_header', header.message);
        columns = header.columns;
        continue;
      }
      if (products.length + totalProblems >= limits.maxRows) {
        throw new CsvError('csv_too_many_rows', `the file has more than ${limits.maxRows} product rows`);
      }
      if (record.length !== columns.length) {
        report({
          line,
          message: `expected ${columns.length} cells, found ${record.length} (quote cells that contain commas)`,
        });
        continue;
      }
      const cell = (role: InputColumn['role']) => {
        const index = columns?.findIndex((column) => column.role === role) ?? -1;
        return { text: (record[index] ?? '').trim(), column: columns?.[index]?.name ?? role };
      };
      let rowOk = true;

      const serial = cell('serial_number');
      let serialNumber = Number.NaN;
      if (!/^\d{1,15}$/.test(serial.text) || Number(serial.text) < 1) {
        report({ line, column: serial.column, message: `"${serial.text}" is not a positive whole number` });
        rowOk = false;
      } else {
        serialNumber = Number(serial.text);
        const firstLine = seenSerials.get(serialNumber);
        if (firstLine !== undefined) {
          report({
            line,
            column: serial.column,
            message: `serial number ${serialNumber} repeats line ${firstLine}`,
          });
          rowOk = false;
        } else {
          seenSerials.set(serialNumber, line);
        }
      }

      const name = cell('product_name');
      if (name.text === '') {
        report({ line, column: name.column, message: 'product name is empty' });
        rowOk = false;
      } else if (name.text.length > MAX_PRODUCT_NAME_LENGTH) {
        report({
          line,
          column: name.column,
          message: `product name is longer than ${MAX_PRODUCT_NAME_LENGTH} characters`,
        });
        rowOk = false;
      }

      const urlCell = cell('input_image_urls');
      const urls = readImageUrlCell(urlCell.text, limits.maxUrlsPerRow);
      if (!urls.ok) {
        report({ line, column: urlCell.column, message: urls.message });
        rowOk = false;
      }

      if (rowOk && urls.ok) {
        products.push({
          row: products.length + 1,
          line,
          serialNumber,
          productName: name.text,
          inputUrls: urls.urls,
        });
        imageCount += urls.urls.length;
      }
    }
  } catch (error) {
    if (error instanceof CsvError) throw error;
    const parseError = error as CsvParseError;
    if (parseError.code?.startsWith('CSV_')) {
      throw new CsvError(
        'csv_malformed',
        `the file is not well-formed CSV at line ${parseError.lines ?? '?'}: ${describeParseError(parseError)}`,
      );
    }
    throw error;
  } finally {
    await feeding;
  }

  if (!columns)
    throw new CsvError('csv_empty', 'the file is empty; it needs a header and at least one product row');
  if (totalProblems > 0) {
    throw new CsvError(
      'csv_invalid_rows',
      `${totalProblems} row problem${totalProblems === 1 ? '' : 's'}; nothing was stored`,
      problems,
      totalProblems,
    );
  }
  if (products.length === 0) throw new CsvError('csv_no_rows', 'the file has a header but no product rows');
  return { columns, products, imageCount };
}

function drainedOrClosed(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

function describeParseError(error: CsvParseError): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted cell is never closed';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a quote appears inside a cell that is not quoted as a whole';
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'text follows the closing quote of a cell';
    default:
      return error.message.replace(/^Invalid Record Length: /, '');
  }
}
