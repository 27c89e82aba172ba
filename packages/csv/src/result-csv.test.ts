import { text } from 'node:stream/consumers';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { InputColumn } from './header.js';
import { neutraliseFormula, type ResultProduct, resultCsvStream } from './result-csv.js';

const columns: InputColumn[] = [
  { name: 'S. No.', role: 'serial_number' },
  { name: 'Product Name', role: 'product_name' },
  { name: 'Input Image Urls', role: 'input_image_urls' },
];

async function* from(products: ResultProduct[]): AsyncIterable<ResultProduct> {
  yield* products;
}

describe('resultCsvStream', () => {
  it('adds output URLs aligned with the inputs and the errors of failed images', async () => {
    const csv = await text(
      resultCsvStream(
        columns,
        from([
          {
            serialNumber: 1,
            productName: 'Shirt, "red"',
            inputUrls: ['https://a/1.jpg', 'https://a/2.jpg', 'https://a/3.jpg'],
            outputUrls: ['https://s/x.jpg', null, 'https://s/y.jpg'],
            errors: [{ url: 'https://a/2.jpg', message: 'http_404 (the server answered 404)' }],
          },
          {
            serialNumber: 2,
            productName: 'Mug',
            inputUrls: ['https://a/4.jpg'],
            outputUrls: [null],
            errors: [],
          },
        ]),
      ),
    );
    expect(parse(csv)).toEqual([
      ['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors'],
      [
        '1',
        'Shirt, "red"',
        'https://a/1.jpg, https://a/2.jpg, https://a/3.jpg',
        'https://s/x.jpg, , https://s/y.jpg',
        'https://a/2.jpg: http_404 (the server answered 404)',
      ],
      ['2', 'Mug', 'https://a/4.jpg', '', ''],
    ]);
  });

  it('neutralises cells a spreadsheet would run as formulas and leaves the rest alone', async () => {
    for (const cell of ['=1+1', '+1', '-2', '@SUM(A1)', '\tx', '\rx'])
      expect(neutraliseFormula(cell)).toBe(`'${cell}`);
    for (const cell of ['Tote', 'https://a/1.jpg', '', '1-2']) expect(neutraliseFormula(cell)).toBe(cell);
    const csv = await text(
      resultCsvStream(
        columns,
        from([
          {
            serialNumber: 1,
            productName: '=HYPERLINK("x")',
            inputUrls: ['https://a/1.jpg'],
            outputUrls: ['https://s/1.jpg'],
            errors: [],
          },
        ]),
      ),
    );
    expect(parse(csv)[1]?.[1]).toBe(`'=HYPERLINK("x")`);
  });

  it('ends the download with an error when its source fails, instead of a silently short file', async () => {
    async function* failing(): AsyncIterable<ResultProduct> {
      yield {
        serialNumber: 1,
        productName: 'A',
        inputUrls: ['https://a/1.jpg'],
        outputUrls: [null],
        errors: [],
      };
      throw new Error('cursor lost');
    }
    await expect(text(resultCsvStream(columns, failing()))).rejects.toThrow('cursor lost');
  });
});
