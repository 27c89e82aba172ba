import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { parse } from 'csv-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm, startTestApi, type TestApi } from './support/api.js';
import { catalogueCsv, catalogueName } from './support/catalogue.js';

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
  }, 120_000);

  it('downloads as a streamed result CSV in input order once finished', async () => {
    // The worker's part is not under test here: the request is closed directly, its images left unprocessed.
    await api.db.requests.updateOne(
      { _id: requestId },
      { $set: { status: 'completed', finished_at: new Date() } },
    );

    const response = await fetch(`${api.url}/api/download/${requestId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const rows = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(parse());
    let count = 0;
    for await (const row of rows as AsyncIterable<string[]>) {
      if (count === 0) {
        expect(row).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors']);
      } else {
        expect(row[0]).toBe(String(count));
        if (count % 9973 === 1) expect(row[1]).toBe(catalogueName(count));
        expect(row[2]?.split(', ')).toHaveLength(1 + (count % 3));
      }
      count += 1;
    }
    expect(count).toBe(ROWS + 1);
  }, 120_000);
});
