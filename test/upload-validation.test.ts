import { IDEMPOTENCY_KEY_LIFETIME_MS } from '@imgsvc/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf, startTestApi, type TestApi } from './support/api.js';

const LIMITS = { MAX_UPLOAD_BYTES: String(256 * 1024), MAX_ROWS: '50', MAX_URLS_PER_ROW: '5' };
const ROW = '1,Tote,https://img.example/1.jpg';
const csv = (...rows: string[]) => [CSV_HEADER, ...rows].join('\n');

function multipart(parts: string, boundary = 'XyZ'): RequestInit {
  return {
    method: 'POST',
    body: parts.replaceAll('\n', '\r\n'),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}
const upload = (body: string | Uint8Array | FormData, extra: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  body: body instanceof FormData ? body : csvForm(body, extra),
});

interface Refusal {
  readonly name: string;
  readonly request: () => RequestInit;
  readonly status: number;
  readonly code: string;
  /** For row problems: the errors the answer lists. */
  readonly errors?: readonly { line: number; column?: string; message: string | RegExp }[];
  readonly detail?: RegExp;
}

const refusals: Refusal[] = [
  // Not a multipart upload at all.
  {
    name: 'a JSON body',
    request: () => ({
      method: 'POST',
      body: '{"file":"x"}',
      headers: { 'content-type': 'application/json' },
    }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'a plain-text body',
    request: () => ({ method: 'POST', body: csv(ROW), headers: { 'content-type': 'text/csv' } }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'a urlencoded form',
    request: () => ({ method: 'POST', body: new URLSearchParams({ file: csv(ROW) }) }),
    status: 415,
    code: 'unsupported_media_type',
  },
  { name: 'no body', request: () => ({ method: 'POST' }), status: 415, code: 'unsupported_media_type' },
  {
    name: 'a multipart body cut short',
    request: () =>
      multipart(
        `--XyZ\nContent-Disposition: form-data; name="file"; filename="a.csv"\nContent-Type: text/csv\n\n${csv(ROW)}`,
      ),
    status: 400,
    code: 'malformed_multipart',
  },
  // The form's fields.
  {
    name: 'no file field',
    request: () => {
      const form = new FormData();
      form.append('webhook_url', 'https://hooks.example/x');
      return upload(form);
    },
    status: 400,
    code: 'missing_file',
  },
  {
    name: 'two files',
    request: () => {
      const form = csvForm(csv(ROW));
      form.append('file', new Blob([csv(ROW)]), 'b.csv');
      return upload(form);
    },
    status: 400,
    code: 'too_many_files',
  },
  {
    name: 'the file under another name',
    request: () => {
      const form = new FormData();
      form.append('csv', new Blob([csv(ROW)]), 'a.csv');
      return upload(form);
    },
    status: 400,
    code: 'unknown_field',
  },
  {
    name: 'the file sent as a text field',
    request: () => {
      const form = new FormData();
      form.append('file', csv(ROW));
      return upload(form);
    },
    status: 400,
    code: 'invalid_field',
  },
  {
    name: 'webhook_url sent as a file',
    request: () => {
      const form = csvForm(csv(ROW));
      form.append('webhook_url', new Blob(['https://h.example/x']), 'w.txt');
      return upload(form);
    },
    status: 400,
    code: 'invalid_field',
  },
  {
    name: 'a webhook_url that is not http(s)',
    request: () => upload(csv(ROW), { webhook_url: 'ftp://hooks.example/x' }),
    status: 400,
    code: 'invalid_webhook_url',
  },
  {
    name: 'a webhook_url that is not a URL',
    request: () => upload(csv(ROW), { webhook_url: 'call me maybe' }),
    status: 400,
    code: 'invalid_webhook_url',
  },
  {
    name: 'a malformed Idempotency-Key',
    request: () => ({ ...upload(csv(ROW)), headers: { 'idempotency-key': 'x'.repeat(300) } }),
    status: 400,
    code: 'invalid_idempotency_key',
  },
  // Not CSV text.
  { name: 'an empty file', request: () => upload(''), status: 422, code: 'csv_empty' },
  { name: 'blank lines only', request: () => upload('\n\r\n  \n'), status: 422, code: 'csv_empty' },
  {
    name: 'binary data (NUL bytes)',
    request: () => upload(Buffer.concat([Buffer.from(csv(ROW)), Buffer.from([0, 1, 2, 0])])),
    status: 415,
    code: 'csv_binary',
  },
  {
    name: 'an Excel workbook',
    request: () => upload(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00])),
    status: 415,
    code: 'csv_binary',
    detail: /Excel/,
  },
  {
    name: 'UTF-16 text',
    request: () => upload(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv(ROW), 'utf16le')])),
    status: 415,
    code: 'csv_not_utf8',
    detail: /UTF-16/,
  },
  {
    name: 'Latin-1 text',
    request: () => upload(Buffer.from(csv('1,Caf\xe9 cr\xe8me,https://img.example/1.jpg'), 'latin1')),
    status: 415,
    code: 'csv_not_utf8',
  },
  // The header.
  {
    name: 'a header with no rows',
    request: () => upload(`${CSV_HEADER}\n`),
    status: 422,
    code: 'csv_no_rows',
  },
  {
    name: 'a missing column',
    request: () => upload('S. No.,Product Name\n1,Tote\n'),
    status: 422,
    code: 'csv_header',
    detail: /missing column "Input Image Urls".*S\. No\.,Product Name,Input Image Urls/,
  },
  {
    name: 'an unknown column',
    request: () => upload(`${CSV_HEADER},Price\n${ROW},9.99\n`),
    status: 422,
    code: 'csv_header',
    detail: /unexpected column 4 "Price"/,
  },
  {
    name: 'a column twice',
    request: () => upload('S. No.,Product Name,Product Name,Input Image Urls\n'),
    status: 422,
    code: 'csv_header',
    detail: /appears twice/,
  },
  {
    name: 'semicolons between columns',
    request: () => upload('S. No.;Product Name;Input Image Urls\n1;Tote;https://img.example/1.jpg\n'),
    status: 422,
    code: 'csv_header',
    detail: /separated by ";"/,
  },
  {
    name: 'tabs between columns',
    request: () => upload('S. No.\tProduct Name\tInput Image Urls\n1\tTote\thttps://img.example/1.jpg\n'),
    status: 422,
    code: 'csv_header',
    detail: /separated by tabs/,
  },
  // Broken CSV syntax.
  {
    name: 'an unbalanced quote',
    request: () => upload(csv('1,"Tote,https://img.example/1.jpg')),
    status: 422,
    code: 'csv_malformed',
    detail: /never closed/,
  },
  {
    name: 'one enormous row',
    request: () => upload(csv(`1,"${'x'.repeat(200 * 1024)}`)),
    status: 422,
    code: 'csv_malformed',
    detail: /longer than 128 KiB/,
  },
  // Rows.
  {
    name: 'an extra cell',
    request: () => upload(csv(ROW, '2,Mug,https://img.example/2.jpg,oops')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 3, message: 'expected 3 cells, found 4 (quote cells that contain commas)' }],
  },
  {
    name: 'a missing cell',
    request: () => upload(csv(ROW, '2,Mug')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 3, message: 'expected 3 cells, found 2 (quote cells that contain commas)' }],
  },
  {
    name: 'a serial number that is not a number',
    request: () => upload(csv('one,Tote,https://img.example/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'S. No.', message: '"one" is not a positive whole number' }],
  },
  {
    name: 'serial number zero',
    request: () => upload(csv('0,Tote,https://img.example/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'S. No.', message: 'the serial number must be 1 or more' }],
  },
  {
    name: 'a negative serial number',
    request: () => upload(csv('-4,Tote,https://img.example/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'S. No.', message: '"-4" is not a positive whole number' }],
  },
  {
    name: 'a decimal serial number',
    request: () => upload(csv('1.5,Tote,https://img.example/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'S. No.', message: '"1.5" is not a positive whole number' }],
  },
  {
    name: 'a repeated serial number',
    request: () => upload(csv(ROW, '1,Mug,https://img.example/2.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 3, column: 'S. No.', message: 'serial number 1 repeats line 2' }],
  },
  {
    name: 'an empty product name',
    request: () => upload(csv('1,   ,https://img.example/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'Product Name', message: 'product name is empty' }],
  },
  {
    name: 'a product name of 501 characters',
    request: () => upload(csv(`1,${'n'.repeat(501)},https://img.example/1.jpg`)),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'Product Name', message: 'product name is longer than 500 characters' }],
  },
  {
    name: 'no image URL',
    request: () => upload(csv('1,Tote, ')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'Input Image Urls', message: 'no image URL' }],
  },
  {
    name: 'a relative URL',
    request: () => upload(csv('1,Tote,/images/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'Input Image Urls', message: '"/images/1.jpg" is not an absolute URL' }],
  },
  {
    name: 'a javascript: URL',
    request: () => upload(csv('1,Tote,javascript:alert(1)')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [
      { line: 2, column: 'Input Image Urls', message: '"javascript:alert(1)" is not an http or https URL' },
    ],
  },
  {
    name: 'a URL with credentials',
    request: () => upload(csv('1,Tote,https://me:secret@img.example/1.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [
      {
        line: 2,
        column: 'Input Image Urls',
        message: '"https://me:secret@img.example/1.jpg" carries credentials',
      },
    ],
  },
  {
    name: 'a URL of 2,049 characters',
    request: () =>
      upload(csv(`1,Tote,https://img.example/${'a'.repeat(2049 - 'https://img.example/'.length)}`)),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [{ line: 2, column: 'Input Image Urls', message: 'URL longer than 2048 characters' }],
  },
  {
    name: 'URLs separated by spaces',
    request: () => upload(csv('1,Tote,https://img.example/1.jpg https://img.example/2.jpg')),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [
      { line: 2, column: 'Input Image Urls', message: /is not a URL \(URLs are separated by commas\)/ },
    ],
  },
  {
    name: 'more URLs than MAX_URLS_PER_ROW',
    request: () =>
      upload(csv(`1,Tote,"${[1, 2, 3, 4, 5, 6].map((n) => `https://img.example/${n}.jpg`).join(',')}"`)),
    status: 422,
    code: 'csv_invalid_rows',
    errors: [
      { line: 2, column: 'Input Image Urls', message: '6 image URLs; at most 5 are allowed per product' },
    ],
  },
  // Limits.
  {
    name: 'more rows than MAX_ROWS',
    request: () =>
      upload(csv(...Array.from({ length: 51 }, (_, n) => `${n + 1},P${n},https://img.example/${n}.jpg`))),
    status: 413,
    code: 'csv_too_many_rows',
  },
  {
    name: 'a file larger than MAX_UPLOAD_BYTES',
    request: () =>
      upload(
        csv(
          ...Array.from(
            { length: 3 },
            (_, n) => `${n + 1},${'P'.repeat(100 * 1024)},https://img.example/${n}.jpg`,
          ),
        ),
      ),
    status: 413,
    code: 'upload_too_large',
  },
];

describe('uploads that are refused', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('upload_validation', LIMITS);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('keeps nothing of a refused upload, not even its Idempotency-Key: the corrected file under that key is accepted', async () => {
    const send = (body: string) =>
      fetch(`${api.url}/api/upload`, {
        method: 'POST',
        body: csvForm(body),
        headers: { 'idempotency-key': 'order-refused-then-corrected' },
      });
    const before = await api.stored();
    const refused = await send(csv('1,,https://img.example/1.jpg'));
    expect(refused.status).toBe(422);
    expect((await problemOf(refused)).code).toBe('csv_invalid_rows');
    expect(await api.stored()).toEqual(before);
    const corrected = await send(csv(ROW));
    expect(corrected.status).toBe(202);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();
    expect(await api.stored()).toEqual({
      requests: (before.requests ?? 0) + 1,
      products: (before.products ?? 0) + 1,
      idempotency_keys: (before.idempotency_keys ?? 0) + 1,
      jobs: (before.jobs ?? 0) + 1,
    });
  });

  it.each(refusals)('$name: $status $code, nothing stored', async (refusal) => {
    const before = await api.stored();
    const response = await fetch(`${api.url}/api/upload`, refusal.request());
    expect(response.status).toBe(refusal.status);
    const problem = await problemOf(response);
    expect(problem.code).toBe(refusal.code);
    if (refusal.detail) expect(problem.detail).toMatch(refusal.detail);
    if (refusal.errors) {
      expect(problem.total_errors).toBe(refusal.errors.length);
      expect(problem.errors).toEqual(
        refusal.errors.map((error) => ({
          line: error.line,
          ...(error.column ? { column: error.column } : {}),
          message: typeof error.message === 'string' ? error.message : expect.stringMatching(error.message),
        })),
      );
    }
    expect(await api.stored()).toEqual(before);
  });

  it('lists the first 100 row problems and counts them all', async () => {
    const twoEach = Array.from({ length: 50 }, (_, n) => `${n + 1},,ftp://img.example/${n}.jpg`);
    const response = await fetch(`${api.url}/api/upload`, upload(csv(...twoEach)));
    expect(response.status).toBe(422);
    const problem = await problemOf(response);
    expect(problem.total_errors).toBe(100);
    expect(problem.errors).toHaveLength(100);
    expect((problem.errors as { line: number }[]).at(-1)?.line).toBe(51);

    const threeEach = Array.from({ length: 50 }, (_, n) => `x${n},,ftp://img.example/${n}.jpg`);
    const many = await fetch(`${api.url}/api/upload`, upload(csv(...threeEach)));
    const manyProblem = await problemOf(many);
    expect(manyProblem.total_errors).toBe(150);
    expect(manyProblem.errors).toHaveLength(100);
  });
});

describe('uploads that are accepted', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('upload_variants', LIMITS);
  });
  afterAll(async () => {
    await api?.close();
  });

  async function accepted(body: string | Uint8Array) {
    const response = await fetch(`${api.url}/api/upload`, upload(body));
    expect(response.status).toBe(202);
    const { request_id: id } = (await response.json()) as { request_id: string };
    const request = await api.db.requests.findOne({ _id: id });
    const products = await api.db.products.find({ request_id: id }).sort({ row: 1 }).toArray();
    return { request, products };
  }

  it('with stray quotes, read as spreadsheets and Python read them, each said as a warning', async () => {
    const response = await fetch(
      `${api.url}/api/upload`,
      upload(
        csv(
          '1,Tote "XL",https://img.example/1.jpg',
          '2,"Mug"XL,https://img.example/2.jpg',
          '3.,"SK"U"3","https://img.example/3.jpg"',
        ),
      ),
    );
    expect(response.status).toBe(202);
    const body = (await response.json()) as {
      request_id: string;
      warnings: { line: number; message: string }[];
    };
    expect(body.warnings).toEqual([
      {
        line: 2,
        message: expect.stringMatching(/^a quote inside a cell not quoted as a whole read as a character/),
      },
      { line: 3, message: expect.stringMatching(/^text after a cell's closing quote kept/) },
      { line: 4, message: expect.stringMatching(/^serial number "3\." read as 3/) },
    ]);
    const products = await api.db.products.find({ request_id: body.request_id }).sort({ row: 1 }).toArray();
    expect(products.map((product) => product.product_name)).toEqual(['Tote "XL"', 'MugXL', 'SKU"3"']);
  });

  it('with a BOM, CRLF line ends and blank lines', async () => {
    const { products } = await accepted(
      `\uFEFF${CSV_HEADER}\r\n\r\n${ROW}\r\n\r\n2,Mug,https://img.example/2.jpg\r\n`,
    );
    expect(products.map((product) => product.product_name)).toEqual(['Tote', 'Mug']);
  });

  it('with the header in snake_case, any case, spaced, dotted, in another order', async () => {
    const first = await accepted(
      'serial_number,product_name,input_image_urls\n1,Tote,https://img.example/1.jpg\n',
    );
    expect(first.products).toHaveLength(1);
    const second = await accepted(
      ' input image URLS ,  s.no. ,PRODUCT NAME\nhttps://img.example/1.jpg,7,Lamp\n',
    );
    expect(second.request?.columns.map((column) => column.name)).toEqual([
      'input image URLS',
      's.no.',
      'PRODUCT NAME',
    ]);
    expect(second.products[0]).toMatchObject({ serial_number: 7, product_name: 'Lamp' });
  });

  it('with spaces around commas, a URL given twice, CDN URLs holding commas and a trailing comma', async () => {
    const cell =
      ' https://img.example/1.jpg ,https://cdn.example/w_300,h_200/2.jpg,  HTTPS://IMG.example/1.jpg, ';
    const { request, products } = await accepted(csv(`1,Tote,"${cell}"`));
    // A URL given twice is kept twice (it gets its output twice), and the cell is kept as written for the result.
    expect(products[0]?.input_urls).toEqual([
      'https://img.example/1.jpg',
      'https://cdn.example/w_300,h_200/2.jpg',
      'HTTPS://IMG.example/1.jpg',
    ]);
    expect(products[0]?.input_cell).toBe(cell);
    expect(request?.totals).toEqual({ products: 1, images: 3 });
  });

  it('with names holding commas, quotes, line breaks and formula characters, kept as written', async () => {
    const { products } = await accepted(
      csv(
        '1,"Shirt, ""red"" XL",https://img.example/1.jpg',
        '2,"Two\nlines",https://img.example/2.jpg',
        '3,=SUM(A1),https://img.example/3.jpg',
      ),
    );
    expect(products.map((product) => product.product_name)).toEqual([
      'Shirt, "red" XL',
      'Two\nlines',
      '=SUM(A1)',
    ]);
  });

  it('with exactly MAX_ROWS rows and MAX_URLS_PER_ROW URLs', async () => {
    const urls = [1, 2, 3, 4, 5].map((n) => `https://img.example/${n}.jpg`).join(',');
    const rows = Array.from({ length: 50 }, (_, n) => `${n + 1},P${n},"${urls}"`);
    const { request } = await accepted(csv(...rows));
    expect(request?.totals).toEqual({ products: 50, images: 250 });
  });
});

describe('Idempotency-Key', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('upload_idempotency', {
      ...LIMITS,
      API_KEYS: 'alice-key,bob-key',
      // Five uploads with one key race below: all are let in at once, so that they meet at the key.
      UPLOAD_CONCURRENCY_PER_KEY: '5',
      UPLOAD_CONCURRENCY: '5',
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  const send = (key: string, apiKey: string, body: string, webhook?: string) =>
    fetch(`${api.url}/api/upload`, {
      method: 'POST',
      body: csvForm(body, webhook ? { webhook_url: webhook } : {}),
      headers: { 'idempotency-key': key, authorization: `Bearer ${apiKey}` },
    });

  it('the same key with the same file gives the original answer and stores one request', async () => {
    const before = await api.stored();
    const first = await send('order-1001', 'alice-key', csv(ROW));
    expect(first.status).toBe(202);
    const original = (await first.json()) as { request_id: string };
    const again = await send('order-1001', 'alice-key', csv(ROW));
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { request_id: string }).request_id).toBe(original.request_id);
    const after = await api.stored();
    expect(after).toMatchObject({ requests: (before.requests ?? 0) + 1, jobs: (before.jobs ?? 0) + 1 });
  });

  it('the same key with another file or webhook is refused and stores nothing', async () => {
    expect((await send('order-1002', 'alice-key', csv(ROW))).status).toBe(202);
    const before = await api.stored();
    const otherFile = await send('order-1002', 'alice-key', csv('1,Tote,https://img.example/other.jpg'));
    expect(otherFile.status).toBe(422);
    expect((await problemOf(otherFile)).code).toBe('idempotency_key_reused');
    const otherWebhook = await send('order-1002', 'alice-key', csv(ROW), 'https://hooks.example/x');
    expect(otherWebhook.status).toBe(422);
    expect(await api.stored()).toEqual(before);
  });

  it('keys belong to their caller: another API key with the same Idempotency-Key gets its own request', async () => {
    const alice = (await (await send('shared-key', 'alice-key', csv(ROW))).json()) as { request_id: string };
    const bob = await send('shared-key', 'bob-key', csv(ROW));
    expect(bob.status).toBe(202);
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    expect(((await bob.json()) as { request_id: string }).request_id).not.toBe(alice.request_id);
  });

  it('uploads racing with one key all get the one request', async () => {
    const before = await api.stored();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => send('order-race', 'alice-key', csv(ROW))),
    );
    const ids = await Promise.all(
      answers.map(async (answer) => {
        expect(answer.status).toBe(202);
        return ((await answer.json()) as { request_id: string }).request_id;
      }),
    );
    expect(new Set(ids).size).toBe(1);
    const after = await api.stored();
    expect(after).toMatchObject({
      requests: (before.requests ?? 0) + 1,
      products: (before.products ?? 0) + 1,
    });
  });
  /** Moves the key's claim back in time, as if its first upload was that long ago. */
  async function ageClaim(requestId: string, ageMs: number): Promise<void> {
    const moved = await api.db.idempotencyKeys.updateOne(
      { request_id: requestId },
      { $set: { created_at: new Date(Date.now() - ageMs) } },
    );
    expect(moved.matchedCount).toBe(1);
  }

  it('a key answers with its first request for 24 hours, and is a new key after that', async () => {
    const first = (await (await send('order-1003', 'alice-key', csv(ROW))).json()) as { request_id: string };
    await ageClaim(first.request_id, IDEMPOTENCY_KEY_LIFETIME_MS - 60_000);
    const within = await send('order-1003', 'alice-key', csv(ROW));
    expect(within.headers.get('idempotent-replayed')).toBe('true');
    expect(((await within.json()) as { request_id: string }).request_id).toBe(first.request_id);

    await ageClaim(first.request_id, IDEMPOTENCY_KEY_LIFETIME_MS + 60_000);
    // Expired, the key may even come with another file: that is a new upload, not a 422.
    const before = await api.stored();
    const after = await send('order-1003', 'alice-key', csv('1,Tote,https://img.example/new.jpg'));
    expect(after.status).toBe(202);
    expect(after.headers.get('idempotent-replayed')).toBeNull();
    const second = (await after.json()) as { request_id: string };
    expect(second.request_id).not.toBe(first.request_id);
    expect(await api.stored()).toMatchObject({
      requests: (before.requests ?? 0) + 1,
      idempotency_keys: before.idempotency_keys,
    });
    const again = await send('order-1003', 'alice-key', csv('1,Tote,https://img.example/new.jpg'));
    expect(((await again.json()) as { request_id: string }).request_id).toBe(second.request_id);
  });

  it('a key whose first request is not stored answers 409 idempotency_key_in_use, to be retried', async () => {
    const first = (await (await send('order-1004', 'alice-key', csv(ROW))).json()) as { request_id: string };
    // As while a first upload is withdrawn (its job could not be queued): the claim is there, the request not.
    await api.db.requests.deleteOne({ _id: first.request_id });
    const before = await api.stored();
    const answer = await send('order-1004', 'alice-key', csv(ROW));
    expect(answer.status).toBe(409);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(await problemOf(answer)).toMatchObject({
      code: 'idempotency_key_in_use',
      detail:
        'the request of the first upload with this key is not stored (that upload is under way, or has just failed); retry in a moment',
    });
    expect(await api.stored()).toEqual(before);
  });
});
