import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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

/**
 * A strict RFC 4180 reader: records end with CRLF; a field is either quoted (quotes doubled inside) or holds no
 * quote, comma, CR or LF. Anything else is an error, where lenient readers would guess.
 */
function parseStrictly(csv: string): string[][] {
  const records: string[][] = [];
  let position = 0;
  while (position < csv.length) {
    const record: string[] = [];
    for (;;) {
      let field = '';
      if (csv[position] === '"') {
        position += 1;
        for (;;) {
          const quote = csv.indexOf('"', position);
          if (quote < 0) throw new Error(`unclosed quote in record ${records.length + 1}`);
          field += csv.slice(position, quote);
          position = quote + 1;
          if (csv[position] !== '"') break;
          field += '"';
          position += 1;
        }
      } else {
        const match = /^[^",\r\n]*/.exec(csv.slice(position));
        field = match?.[0] ?? '';
        position += field.length;
      }
      record.push(field);
      if (csv[position] === ',') {
        position += 1;
        continue;
      }
      if (csv.startsWith('\r\n', position)) {
        position += 2;
        break;
      }
      throw new Error(
        `record ${records.length + 1}: unexpected ${JSON.stringify(csv.slice(position, position + 10))}`,
      );
    }
    records.push(record);
  }
  return records;
}

/** The rows Python's csv module reads from the text, as the seed's language and many scripts would. */
function parseWithPython(csv: string): string[][] {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script =
    'import csv, io, json, sys\n' +
    'rows = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")))\n' +
    'print(json.dumps(rows))';
  const run = spawnSync(python, ['-c', script], { input: csv, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as string[][];
}

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

  it('quotes every cell holding a line break, a quote or a comma, so no reader sees an injected row', async () => {
    const names = ['x\n=1+1', 'y\r=2+2', 'z\r\n@SUM(A1)', 'He said "hi"', 'a,b', 'plain'];
    const csv = await text(
      resultCsvStream(
        columns,
        from(
          names.map((productName, index) => ({
            serialNumber: index + 1,
            productName,
            inputUrls: [`https://a/${index}.jpg`],
            outputUrls: [`https://s/${index}.jpg`],
            errors: [],
          })),
        ),
      ),
    );
    const expected = [
      ['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors'],
      ...names.map((name, index) => [
        String(index + 1),
        name,
        `https://a/${index}.jpg`,
        `https://s/${index}.jpg`,
        '',
      ]),
    ];
    expect(parseStrictly(csv)).toEqual(expected);
    expect(parseWithPython(csv)).toEqual(expected);
    // A reader that takes any line break as the end of a record outside quotes sees the same rows.
    expect(parse(csv, { record_delimiter: ['\r\n', '\n', '\r'] })).toEqual(expected);
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

  it('echoes the URL cell exactly as it was written, with one output per URL in order, a repeated URL twice', async () => {
    const csv = await text(
      resultCsvStream(
        columns,
        from([
          {
            serialNumber: 1,
            productName: 'Tote',
            inputUrls: ['https://a.example/1.jpg', 'https://a.example/2.jpg', 'https://a.example/1.jpg'],
            inputCell: 'https://a.example/1.jpg ,https://a.example/2.jpg,https://a.example/1.jpg,',
            outputUrls: ['https://s/x.jpg', null, 'https://s/x.jpg'],
            errors: [{ url: 'https://a.example/2.jpg', message: 'http_404 (the server answered 404)' }],
          },
        ]),
      ),
    );
    const rows = parseStrictly(csv);
    expect(rows[1]).toEqual([
      '1',
      'Tote',
      'https://a.example/1.jpg ,https://a.example/2.jpg,https://a.example/1.jpg,',
      'https://s/x.jpg, , https://s/x.jpg',
      'https://a.example/2.jpg: http_404 (the server answered 404)',
    ]);
  });
});
