import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CsvError, type ParsedProductCsv, parseProductCsv } from './parse-product-csv.js';

const limits = { maxRows: 100, maxUrlsPerRow: 5 };

function parseText(text: string | Buffer, custom = limits): Promise<ParsedProductCsv> {
  // Split the input into small chunks, as a network upload would arrive.
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += 7) chunks.push(bytes.subarray(start, start + 7));
  return parseProductCsv(Readable.from(chunks), custom);
}

async function refusal(text: string | Buffer, custom = limits): Promise<CsvError> {
  try {
    await parseText(text, custom);
  } catch (error) {
    if (error instanceof CsvError) return error;
    throw error;
  }
  throw new Error('the CSV was accepted');
}

describe('parseProductCsv', () => {
  it('reads the contract format with quoted cells holding commas and quotes', async () => {
    const csv = [
      'S. No.,Product Name,Input Image Urls',
      '1,SKU1,"https://a.example/1.jpg, https://a.example/2.jpg"',
      '2,"Shirt, ""red"" XL",https://a.example/3.jpg',
    ].join('\n');
    const parsed = await parseText(csv);
    expect(parsed.columns.map((column) => column.role)).toEqual([
      'serial_number',
      'product_name',
      'input_image_urls',
    ]);
    expect(parsed.products).toEqual([
      {
        row: 1,
        line: 2,
        serialNumber: 1,
        productName: 'SKU1',
        inputUrls: ['https://a.example/1.jpg', 'https://a.example/2.jpg'],
        inputCell: 'https://a.example/1.jpg, https://a.example/2.jpg',
      },
      {
        row: 2,
        line: 3,
        serialNumber: 2,
        productName: 'Shirt, "red" XL',
        inputUrls: ['https://a.example/3.jpg'],
        inputCell: 'https://a.example/3.jpg',
      },
    ]);
    expect(parsed.imageCount).toBe(3);
  });

  it('accepts a BOM, CRLF line ends, blank lines and the snake_case header', async () => {
    const csv = '\uFEFFserial_number,product_name,input_image_urls\r\n\r\n7,Lamp,http://a.example/l.png\r\n';
    const parsed = await parseText(csv);
    expect(parsed.columns.map((column) => column.name)).toEqual([
      'serial_number',
      'product_name',
      'input_image_urls',
    ]);
    expect(parsed.products).toHaveLength(1);
    expect(parsed.products[0]).toMatchObject({ serialNumber: 7, productName: 'Lamp', line: 3 });
  });

  it('keeps the columns in the order the client wrote them', async () => {
    const parsed = await parseText('Product Name,Input Image Urls,S No\nMug,https://a.example/m.jpg,3\n');
    expect(parsed.columns.map((column) => column.role)).toEqual([
      'product_name',
      'input_image_urls',
      'serial_number',
    ]);
    expect(parsed.products[0]).toMatchObject({ serialNumber: 3, productName: 'Mug' });
  });

  it('keeps image-CDN URLs that contain commas whole, a repeated URL twice, and the cell as it was written', async () => {
    const cell =
      'https://cdn.example/w_300,h_200/a.jpg, https://cdn.example/b.jpg ,https://cdn.example/b.jpg';
    const parsed = await parseText(`S. No.,Product Name,Input Image Urls\n1,Tote,"${cell}"\n`);
    expect(parsed.products[0]?.inputUrls).toEqual([
      'https://cdn.example/w_300,h_200/a.jpg',
      'https://cdn.example/b.jpg',
      'https://cdn.example/b.jpg',
    ]);
    expect(parsed.products[0]?.inputCell).toBe(cell);
    expect(parsed.imageCount).toBe(3);
  });

  it('lists every row problem with its line and column, and stores nothing', async () => {
    const csv = [
      'S. No.,Product Name,Input Image Urls',
      'x,Tote,https://a.example/1.jpg',
      '2,,https://a.example/2.jpg',
      '3,Mug,ftp://a.example/3.jpg',
      '4,Cap,https://user:pw@a.example/4.jpg',
      '5,Hat,not a url',
      '2,Dup,https://a.example/6.jpg',
      '7,Short',
    ].join('\n');
    const error = await refusal(csv);
    expect(error.code).toBe('csv_invalid_rows');
    expect(error.totalErrors).toBe(7);
    expect(error.errors).toEqual([
      { line: 2, column: 'S. No.', message: '"x" is not a positive whole number' },
      { line: 3, column: 'Product Name', message: 'product name is empty' },
      { line: 4, column: 'Input Image Urls', message: '"ftp://a.example/3.jpg" is not an http or https URL' },
      {
        line: 5,
        column: 'Input Image Urls',
        message: '"https://user:pw@a.example/4.jpg" carries credentials',
      },
      {
        line: 6,
        column: 'Input Image Urls',
        message: '"not a url" is not a URL (URLs are separated by commas)',
      },
      { line: 7, column: 'S. No.', message: 'serial number 2 repeats line 3' },
      { line: 8, message: 'expected 3 cells, found 2 (quote cells that contain commas)' },
    ]);
  });

  it('refuses more URLs in one cell than allowed', async () => {
    const urls = Array.from({ length: 6 }, (_, index) => `https://a.example/${index}.jpg`).join(',');
    const error = await refusal(`S. No.,Product Name,Input Image Urls\n1,Tote,"${urls}"\n`);
    expect(error.errors[0]?.message).toBe('6 image URLs; at most 5 are allowed per product');
  });

  it('refuses a header without the required columns and shows the expected one', async () => {
    const error = await refusal('id,name\n1,Tote\n');
    expect(error.code).toBe('csv_header');
    expect(error.message).toContain('S. No.,Product Name,Input Image Urls');
  });

  it('refuses an empty file and a header without rows', async () => {
    expect((await refusal('')).code).toBe('csv_empty');
    expect((await refusal('S. No.,Product Name,Input Image Urls\n')).code).toBe('csv_no_rows');
  });

  it('refuses more rows than allowed without reading the whole file', async () => {
    const rows = Array.from(
      { length: 5 },
      (_, index) => `${index + 1},P${index},https://a.example/${index}.jpg`,
    );
    const error = await refusal(['S. No.,Product Name,Input Image Urls', ...rows].join('\n'), {
      maxRows: 3,
      maxUrlsPerRow: 5,
    });
    expect(error.code).toBe('csv_too_many_rows');
  });

  it('refuses unbalanced quotes with the line where the problem is', async () => {
    const error = await refusal('S. No.,Product Name,Input Image Urls\n1,"Tote,https://a.example/1.jpg\n');
    expect(error.code).toBe('csv_malformed');
    expect(error.message).toMatch(/line \d+: a quoted cell is never closed/);
  });

  it('refuses text that is not UTF-8', async () => {
    const latin1 = Buffer.from(
      'S. No.,Product Name,Input Image Urls\n1,Caf\xe9,https://a.example/1.jpg\n',
      'latin1',
    );
    expect((await refusal(latin1)).code).toBe('csv_not_utf8');
  });

  it.each([
    ['Sr. No,Product,Image URLs'],
    ['Serial Number,Name,Image Urls'],
    ['SerialNumber,ProductName,InputImageUrls'],
    ['No.,Product Name,Images'],
  ])('reads the header synonyms people write: %s', async (header) => {
    const parsed = await parseText(`${header}\n1,Tote,https://a.example/1.jpg\n`);
    expect(parsed.columns.map((column) => column.role)).toEqual([
      'serial_number',
      'product_name',
      'input_image_urls',
    ]);
    expect(parsed.columns.map((column) => column.name)).toEqual(header.split(','));
    expect(parsed.products[0]).toMatchObject({ serialNumber: 1, productName: 'Tote' });
    expect(parsed.warnings).toEqual([]);
  });

  it('reads a result CSV uploaded again: its output and error columns are ignored, and it says so', async () => {
    const csv = [
      'S. No.,Product Name,Input Image Urls,Output Image Urls,Errors',
      '1,Tote,"https://a.example/1.jpg, https://a.example/2.jpg","https://img.example/images/a.jpg, ",https://a.example/2.jpg: http_404 (the server answered 404)',
      '2,Mug,https://a.example/3.jpg,https://img.example/images/b.jpg,',
    ].join('\r\n');
    const parsed = await parseText(csv);
    expect(parsed.columns.map((column) => column.name)).toEqual([
      'S. No.',
      'Product Name',
      'Input Image Urls',
    ]);
    expect(parsed.products.map((product) => product.inputUrls)).toEqual([
      ['https://a.example/1.jpg', 'https://a.example/2.jpg'],
      ['https://a.example/3.jpg'],
    ]);
    expect(parsed.warnings).toEqual([
      {
        line: 1,
        message: expect.stringMatching(/^the result columns "Output Image Urls", "Errors" ignored/),
      },
    ]);
    // Without the Errors column too.
    const withoutErrors = await parseText(
      'Product Name,Input Image Urls,S. No.,Output Image Urls\nMug,https://a.example/3.jpg,2,\n',
    );
    expect(withoutErrors.products[0]).toMatchObject({ serialNumber: 2, productName: 'Mug' });
    expect(withoutErrors.warnings[0]?.message).toMatch(/^the result column "Output Image Urls" ignored/);
  });

  it('reads serial numbers written "1." as spreadsheets write them, and says so once with the first line', async () => {
    const csv = [
      'S. No.,Product Name,Input Image Urls',
      '1.,Tote,https://a.example/1.jpg',
      ' 2 ,Mug,https://a.example/2.jpg',
      '3.,Cap,https://a.example/3.jpg',
    ].join('\n');
    const parsed = await parseText(csv);
    expect(parsed.products.map((product) => product.serialNumber)).toEqual([1, 2, 3]);
    expect(parsed.warnings).toEqual([
      { line: 2, message: 'serial number "1." read as 1 (and 1 more written with a final dot)' },
    ]);
    // Still refused: what has no single reading.
    for (const serial of ['1.5', '1..', '.1', '-1', 'one']) {
      const error = await refusal(
        `S. No.,Product Name,Input Image Urls\n${serial},Tote,https://a.example/1.jpg\n`,
      );
      expect(error.errors[0], serial).toMatchObject({ line: 2, column: 'S. No.' });
    }
  });

  it('reads a list of URLs written without quotes in the last column, and says so once', async () => {
    const csv = [
      'SerialNumber,ProductName,InputImageUrls',
      '1,SKU1,https://a.example/1.jpeg,https://a.example/2.jpg',
      '2,SKU2,https://a.example/3.jpg',
      '3,SKU3,https://a.example/4.jpg,https://a.example/5.jpg,https://a.example/6.jpg,',
    ].join('\n');
    const parsed = await parseText(csv);
    expect(parsed.products.map((product) => product.inputUrls)).toEqual([
      ['https://a.example/1.jpeg', 'https://a.example/2.jpg'],
      ['https://a.example/3.jpg'],
      ['https://a.example/4.jpg', 'https://a.example/5.jpg', 'https://a.example/6.jpg'],
    ]);
    expect(parsed.warnings).toEqual([
      {
        line: 2,
        message:
          'image URLs not quoted: the cells after the last column read as more URLs of the list (and on 1 more line)',
      },
    ]);
  });

  it('still refuses extra cells that have another reading, with their line', async () => {
    for (const [csv, line] of [
      // An unquoted name with a comma: the extra cell is not a URL.
      ['S. No.,Product Name,Input Image Urls\n1,Shirt, red,https://a.example/1.jpg\n', 2],
      // The URL column is not the last one.
      ['Input Image Urls,S. No.,Product Name\nhttps://a.example/1.jpg,https://a.example/2.jpg,1,Tote\n', 2],
      // A URL list followed by something that is not a URL.
      ['S. No.,Product Name,Input Image Urls\n1,Tote,https://a.example/1.jpg,see notes\n', 2],
    ] as const) {
      const error = await refusal(csv);
      expect(error.code, csv).toBe('csv_invalid_rows');
      expect(error.errors[0], csv).toMatchObject({
        line,
        message: expect.stringMatching(/^expected 3 cells, found 4/),
      });
    }
  });

  it('reads the apostrophe a result file puts before a formula as the protection it is, and says so', async () => {
    const csv = [
      'S. No.,Product Name,Input Image Urls',
      "1,'=SUM(A1),https://a.example/1.jpg",
      "2,'-5% off,https://a.example/2.jpg",
      "3,'quoted' name,https://a.example/3.jpg",
    ].join('\n');
    const parsed = await parseText(csv);
    expect(parsed.products.map((product) => product.productName)).toEqual([
      '=SUM(A1)',
      '-5% off',
      "'quoted' name",
    ]);
    expect(parsed.warnings).toEqual([
      { line: 2, message: expect.stringMatching(/^a leading apostrophe before =/) },
    ]);
  });
});
