import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CsvError, parseProductCsv } from './parse-product-csv.js';

/**
 * CSV files as people and their tools write them, each with the products it must give (serial number, name,
 * URLs) and the warnings it must carry, or the refusal it must get. Written here after the shapes met in
 * other implementations' sample files and in spreadsheet exports.
 */
const limits = { maxRows: 100, maxUrlsPerRow: 10 };
const A = 'https://img.example/a.jpg';
const B = 'https://img.example/b.png';
const C = 'https://img.example/c.webp';

interface Accepted {
  readonly products: readonly (readonly [number, string, readonly string[]])[];
  readonly warnings?: readonly RegExp[];
}

const ACCEPTED: Readonly<Record<string, { readonly file: string | Buffer } & Accepted>> = {
  'the contract format, LF': {
    file: `S. No.,Product Name,Input Image Urls\n1,Tote,"${A}, ${B}"\n2,Mug,${C}\n`,
    products: [
      [1, 'Tote', [A, B]],
      [2, 'Mug', [C]],
    ],
  },
  'CRLF without a final line break': {
    file: `S. No.,Product Name,Input Image Urls\r\n1,Tote,"${A},${B}"\r\n2,Mug,${C}`,
    products: [
      [1, 'Tote', [A, B]],
      [2, 'Mug', [C]],
    ],
  },
  'a trailing blank line and blank lines between rows': {
    file: `S. No.,Product Name,Input Image Urls\n1,Tote,${A}\n\n2,Mug,${B}\n\n`,
    products: [
      [1, 'Tote', [A]],
      [2, 'Mug', [B]],
    ],
  },
  'a trailing comma inside the quoted list': {
    file: `S. No.,Product Name,Input Image Urls\n1,Tote,"${A}, ${B},"\n`,
    products: [[1, 'Tote', [A, B]]],
  },
  'an unquoted list in the last column (SerialNumber,ProductName,InputImageUrls)': {
    file: `SerialNumber,ProductName,InputImageUrls\n1,SKU1,${A},${B}\n2,SKU2,${C}\n`,
    products: [
      [1, 'SKU1', [A, B]],
      [2, 'SKU2', [C]],
    ],
    warnings: [/^image URLs not quoted/],
  },
  'serial numbers written "1." and " 2 "': {
    file: `S. No.,Product Name,Input Image Urls\n1.,Tote,${A}\n 2 ,Mug,${B}\n`,
    products: [
      [1, 'Tote', [A]],
      [2, 'Mug', [B]],
    ],
    warnings: [/^serial number "1\." read as 1/],
  },
  'a Google Sheets export (CRLF, quoted only where needed, no BOM)': {
    file: `Sr. No,Product,Image URLs\r\n1,"Shirt, red","${A},${B}"\r\n2,Mug,${C}`,
    products: [
      [1, 'Shirt, red', [A, B]],
      [2, 'Mug', [C]],
    ],
  },
  'an Excel "CSV UTF-8" export (BOM, CRLF, a final line break)': {
    file: Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(`Serial Number,Name,Image Urls\r\n1,Café crème,"${A}, ${B}"\r\n2,"Mug ""XL""",${C}\r\n`),
    ]),
    products: [
      [1, 'Café crème', [A, B]],
      [2, 'Mug "XL"', [C]],
    ],
  },
  'a spreadsheet export with stray quotes and serial numbers written "1."': {
    file: `S. No.,Product Name,Input Image Urls\n1.,SKU1,"${A}"\n3.,SK"U"3,"${B}"\n4.,"SK"U"4","${C}"\n`,
    products: [
      [1, 'SKU1', [A]],
      [3, 'SK"U"3', [B]],
      [4, 'SKU"4"', [C]],
    ],
    warnings: [
      /^serial number "1\." read as 1/,
      /^a quote inside a cell not quoted/,
      /^text after a cell's closing quote/,
    ],
  },
  'a result CSV uploaded again, with and without its Errors column': {
    file: `S. No.,Product Name,Input Image Urls,Output Image Urls,Errors\r\n1,Tote,"${A}, ${B}","https://api.example/images/x.jpg, ",${B}: http_404 (the server answered 404)\r\n`,
    products: [[1, 'Tote', [A, B]]],
    warnings: [/^the result columns "Output Image Urls", "Errors" ignored/],
  },
};

const REFUSED: Readonly<
  Record<string, { readonly file: string; readonly code: string; readonly message: RegExp }>
> = {
  'semicolons from a European Excel': {
    file: `S. No.;Product Name;Input Image Urls\r\n1;Tote;${A}\r\n`,
    code: 'csv_header',
    message: /separated by ";"; separate them with commas/,
  },
  'tabs (a TSV)': {
    file: `S. No.\tProduct Name\tInput Image Urls\n1\tTote\t${A}\n`,
    code: 'csv_header',
    message: /separated by tabs; separate them with commas/,
  },
  'an unquoted name holding a comma': {
    file: `S. No.,Product Name,Input Image Urls\n1,Shirt, red,${A}\n`,
    code: 'csv_invalid_rows',
    message: /1 problem in the rows/,
  },
  'an unclosed quote': {
    file: `S. No.,Product Name,Input Image Urls\n1,"Tote,${A}\n`,
    code: 'csv_malformed',
    message: /line \d+: a quoted cell is never closed/,
  },
};

function read(file: string | Buffer) {
  const bytes = Buffer.isBuffer(file) ? file : Buffer.from(file);
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += 5) chunks.push(bytes.subarray(start, start + 5));
  return parseProductCsv(Readable.from(chunks), limits);
}

describe('CSV shapes people and their tools write', () => {
  it.each(Object.entries(ACCEPTED))('accepts %s', async (_name, shape) => {
    const parsed = await read(shape.file);
    expect(
      parsed.products.map((product) => [product.serialNumber, product.productName, product.inputUrls]),
    ).toEqual(shape.products);
    expect(parsed.warnings.map((warning) => warning.message)).toEqual(
      (shape.warnings ?? []).map((pattern) => expect.stringMatching(pattern)),
    );
  });

  it.each(Object.entries(REFUSED))('refuses %s, saying why', async (_name, shape) => {
    const error = await read(shape.file).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(CsvError);
    expect((error as CsvError).code).toBe(shape.code);
    expect((error as CsvError).message).toMatch(shape.message);
  });
});
