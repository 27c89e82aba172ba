import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { recordProductResult } from '@imgsvc/db';
import { parse } from 'csv-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm, startTestApi, type TestApi } from './support/api.js';
import { catalogueCsv, catalogueName } from './support/catalogue.js';
import { pollUntil } from './support/poll.js';

const ROWS = 100_000;

describe(`a ${ROWS.toLocaleString('en')}-row CSV`, () => {
  let api: TestApi;
  let requestId: string;
  beforeAll(async () => {
    api = await startTestApi('large_upload');
  });
  afterAll(async () => {
    await api?.close();
  });

  it('is stored whole, in batches, while the API keeps answering', async () => {
    const csv = catalogueCsv(ROWS);
    let finished = false;
    let answeredDuringUpload = 0;
    const probing = (async () => {
      while (!finished) {
        const response = await fetch(`${api.url}/health/live`);
        if (response.ok && !finished) answeredDuringUpload += 1;
        await delay(20); // a probe interval, not a wait for work
      }
    })();
    const response = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(csv) });
    finished = true;
    await probing;
    expect(response.status).toBe(202);
    requestId = ((await response.json()) as { request_id: string }).request_id;
    expect(answeredDuringUpload).toBeGreaterThan(10);

    const request = await api.db.requests.findOne({ _id: requestId });
    const images = Array.from({ length: ROWS }, (_, index) => 1 + ((index + 1) % 3)).reduce(
      (a, b) => a + b,
      0,
    );
    expect(request?.totals).toEqual({ products: ROWS, images });
    expect(await api.db.products.countDocuments({ request_id: requestId })).toBe(ROWS);
    // The note kept while its products were stored as the file streamed in is gone with the request written.
    expect(await api.db.incoming.countDocuments({})).toBe(0);
  }, 120_000);

  it('takes back every product already stored when the file is refused at its last row', async () => {
    const products = await api.db.products.countDocuments({});
    // Valid for 4,999 rows, stored batch by batch as they stream in, then a row that refuses the file. (Fewer
    // rows than the rest of this file: FerretDB on SQLite removes products slowly, about 1,000 a second here.)
    const refusedRows = 5000;
    const csv = `${catalogueCsv(refusedRows - 1)}${refusedRows},,https://img.example.com/last.jpg\n`;
    const response = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(response.status).toBe(422);
    const problem = (await response.json()) as { errors: { line: number; message: string }[] };
    expect(problem.errors).toEqual([
      expect.objectContaining({ line: refusedRows + 1, message: 'product name is empty' }),
    ]);
    // Nothing of it is visible at once (no request owns the products), and they are removed in the background.
    expect(await api.db.requests.countDocuments({ _id: { $ne: requestId } })).toBe(0);
    await pollUntil(
      async () =>
        (await api.db.products.countDocuments({})) === products &&
        (await api.db.incoming.countDocuments({})) === 0
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 200, what: "the refused file's products removed" },
    );
  }, 120_000);

  it('downloads as a streamed result CSV in input order once finished, each row with its own outputs and errors', async () => {
    // The worker's part is not under test here: results are recorded directly for rows spread over the whole
    // file (across the database's batches), one image failed in some, and the request closed; the other rows
    // stay unprocessed. Recorded last row first, so that only a read in row order joins them to their rows.
    const serials = [
      1,
      ...Array.from({ length: Math.floor(ROWS / 997) }, (_, index) => (index + 1) * 997),
      ROWS,
    ];
    const sampled = await api.db.products
      .find({ request_id: requestId, serial_number: { $in: serials } })
      .sort({ row: -1 })
      .toArray();
    expect(sampled).toHaveLength(serials.length);
    const expected = new Map<string, { outputs: string[]; errors: string }>();
    for (const product of sampled) {
      const failed = product.serial_number % 2 === 0 ? product.input_urls.length - 1 : -1;
      const outputUrls = product.input_urls.map((_, index) =>
        index === failed ? null : `http://127.0.0.1:3000/images/${outputName(product.serial_number, index)}`,
      );
      const errors = product.input_urls
        .filter((_, index) => index === failed)
        .map((url) => ({ url, code: 'http_404' as const, message: 'the server answered 404' }));
      await recordProductResult(api.db, requestId, product.row, { outputUrls, errors });
      expected.set(String(product.serial_number), {
        outputs: outputUrls.map((url) => url ?? ''),
        errors: errors.map((error) => `${error.url}: http_404 (the server answered 404)`).join('; '),
      });
    }
    await api.db.requests.updateOne(
      { _id: requestId },
      { $set: { status: 'completed', finished_at: new Date() } },
    );

    const response = await fetch(`${api.url}/api/download/${requestId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const rows = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(parse());
    let count = 0;
    // Rows whose output columns are not what was recorded for them (the first few, for the message).
    const wrong: string[][] = [];
    for await (const row of rows as AsyncIterable<string[]>) {
      if (count === 0) {
        expect(row).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors']);
      } else {
        expect(row[0]).toBe(String(count));
        if (count % 9973 === 1) expect(row[1]).toBe(catalogueName(count));
        const inputs = row[2]?.split(', ') ?? [];
        expect(inputs).toHaveLength(1 + (count % 3));
        // One output entry per input URL: the recorded one, or empty where it failed or was not processed.
        const recorded = expected.get(row[0] ?? '');
        const outputs = recorded?.outputs ?? inputs.map(() => '');
        if (row.length !== 5 || row[3] !== outputs.join(', ') || row[4] !== (recorded?.errors ?? '')) {
          if (wrong.length < 5) wrong.push(row);
          else if (wrong.length === 5) wrong.push(['…']);
        }
      }
      count += 1;
    }
    expect(count).toBe(ROWS + 1);
    expect(wrong).toEqual([]);
  }, 120_000);
});

/** A stored image's name, distinct for each product and image. */
function outputName(serial: number, index: number): string {
  return `${serial.toString(16).padStart(62, '0')}${index.toString(16).padStart(2, '0')}.jpg`;
}
