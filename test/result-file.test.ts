import { randomUUID } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { deleteRequest, findRequest, readResultFile, recordProductResult, storeResultFile } from '@imgsvc/db';
import { finishRequest, KEEP_RESULT_ABOVE_PRODUCTS, keepResultFile, resultCsv } from '@imgsvc/requests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.js';
import { insertStoredRequest } from './support/catalogue.js';

/** The large request's result file kept when it completes, downloaded whole, and removed with the request. */
describe('the result CSV of a large request, kept when it completes', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('result-file');
  });
  afterAll(async () => {
    await api?.close();
  });

  /** A request of `products` one- or two-image products, every product's result recorded but every tenth's. */
  const processed = async (products: number) => {
    const id = await insertStoredRequest(
      api.db,
      Array.from({ length: products }, (_, index) => ({
        productName: index === 7 ? 'Tote, "large"\r\n=SUM(A1)' : `Product ${index + 1}`,
        inputUrls: Array.from({ length: 1 + (index % 2) }, (_, n) => `https://img.example/${index}-${n}.jpg`),
      })),
    );
    for (let row = 1; row <= products; row += 1) {
      if (row % 10 === 0) continue;
      const images = 1 + ((row - 1) % 2);
      await recordProductResult(api.db, id, row, {
        outputUrls: Array.from({ length: images }, (_, n) =>
          n === 1 ? null : `http://127.0.0.1:3000/images/${row}.jpg`,
        ),
        errors:
          images === 2
            ? [
                {
                  url: `https://img.example/${row - 1}-1.jpg`,
                  code: 'http_404',
                  message: 'the server answered 404',
                },
              ]
            : [],
      });
    }
    return id;
  };
  const finishing = () => ({
    db: api.db,
    queues: api.queues,
    webhook: { maxAttempts: 1, backoffMs: 1000 },
    forgetJobState: async () => {},
  });

  it('is kept by the completion, downloaded with its length, and the same as the CSV joined from the products', async () => {
    const products = KEEP_RESULT_ABOVE_PRODUCTS + 1;
    const id = await processed(products);
    const before = await findRequest(api.db, id);
    if (!before) throw new Error('the request was not stored');
    const joined = await text(resultCsv(api.db, before).stream);
    // The header, a line per product (one name holds a line break) and the final line break.
    expect(joined.split('\r\n')).toHaveLength(products + 3);

    expect(await finishRequest(finishing(), id)).toMatchObject({ status: 'completed' });
    const completed = await findRequest(api.db, id);
    const kept = await text(resultCsv(api.db, completed as NonNullable<typeof completed>).stream);
    expect(completed?.result_file).toEqual({ chunks: 1, bytes: Buffer.byteLength(kept) });
    // Products whose jobs gave up (every tenth) were closed by the completion: the file has their failures.
    expect(joined).not.toContain('processing_failed');
    expect(kept).toContain('processing_failed');

    const download = await fetch(`${api.url}/api/download/${id}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const body = await download.text();
    expect(download.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
    expect(body).toBe(kept);
    // The same rows as a download joined from the products and results now.
    const { result_file: _, ...withoutFile } = completed as NonNullable<typeof completed>;
    expect(await text(resultCsv(api.db, withoutFile).stream)).toBe(body);
    expect(body).toContain('"Tote, ""large""\r\n=SUM(A1)"');

    await deleteRequest(api.db, id);
    expect(await api.db.resultFiles.countDocuments({ request_id: id })).toBe(0);
  });

  it('spans as many parts as its size needs, read back in order', async () => {
    const id = await processed(KEEP_RESULT_ABOVE_PRODUCTS + 40);
    const request = await findRequest(api.db, id);
    if (!request) throw new Error('the request was not stored');
    const joined = await text(resultCsv(api.db, request).stream);
    const file = await keepResultFile(api.db, request, 5000);
    expect(file?.chunks).toBeGreaterThan(3);
    expect(file?.bytes).toBe(Buffer.byteLength(joined));
    let read = '';
    for await (const part of readResultFile(api.db, id, file as NonNullable<typeof file>)) read += part;
    expect(read).toBe(joined);
    // Kept again (a completion that ran twice): the same parts, replaced.
    expect(await keepResultFile(api.db, request, 5000)).toEqual(file);
    expect(await api.db.resultFiles.countDocuments({ request_id: id })).toBe(file?.chunks);
    await deleteRequest(api.db, id);
    expect(await api.db.resultFiles.countDocuments({ request_id: id })).toBe(0);
  });

  it('cuts its parts the same way whatever pieces the text streams in, never inside a character', async () => {
    const id = randomUUID();
    const text = 'ab\u{1F600}cd\u{1F600}\u{1F600}e';
    const pieces = async function* (sizes: readonly number[]) {
      let at = 0;
      for (const size of sizes) {
        yield text.slice(at, at + size);
        at += size;
      }
      yield text.slice(at);
    };
    const file = await storeResultFile(api.db, id, pieces([1, 4]), 3);
    expect(await storeResultFile(api.db, id, pieces([7, 1, 1]), 3)).toEqual(file);
    expect(file.bytes).toBe(Buffer.byteLength(text));
    let read = '';
    for await (const part of readResultFile(api.db, id, file)) read += part;
    expect(read).toBe(text);
    await deleteRequest(api.db, id);
    expect(await api.db.resultFiles.countDocuments({ request_id: id })).toBe(0);
  });

  it('is not kept for a request small enough to be joined by key', async () => {
    const id = await processed(3);
    expect(await finishRequest(finishing(), id)).toMatchObject({ status: 'completed' });
    expect((await findRequest(api.db, id))?.result_file).toBeUndefined();
    expect(await api.db.resultFiles.countDocuments({ request_id: id })).toBe(0);
    const download = await fetch(`${api.url}/api/download/${id}`);
    expect(download.status).toBe(200);
    expect((await download.text()).split('\r\n')).toHaveLength(5);
  });
});
