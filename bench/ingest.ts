import {
  connectDatabase,
  type Database,
  findRequest,
  markRequestCompleted,
  type ProductResultDocument,
  productId,
  productInputsFrom,
} from '@imgsvc/db';
import { outputImageUrl } from '@imgsvc/domain';
import { keepResultFile } from '@imgsvc/requests';
import { contentKey } from '@imgsvc/storage';
import { catalogueCsv } from '../test/support/catalogue.js';
import { startApiProcess } from './api-process.js';

export interface IngestResult {
  readonly rows: number;
  readonly csv_mb: number;
  readonly upload_seconds: number;
  readonly api_rss_growth_mb: number;
  /** Writing every product's result (an output URL per input URL) and closing the request, not timed as API work. */
  readonly results_fill_seconds: number;
  /** Of that, keeping the result CSV as the worker does when it completes a large request. */
  readonly result_file_seconds: number;
  readonly output_urls: number;
  readonly download_seconds: number;
  readonly download_mb: number;
}

/**
 * What a worker would have left: one result per product with an output URL for each input URL, as the API
 * serves outputs (a content key under /images/), then its result CSV kept and the request completed with its
 * counts, as the worker's finishRequest does.
 */
async function finishAsAWorkerWould(
  db: Database,
  id: string,
  rows: number,
  apiUrl: string,
): Promise<{ images: number; resultFileSeconds: number }> {
  const now = new Date();
  let batch: ProductResultDocument[] = [];
  let products = 0;
  let images = 0;
  const flush = async () => {
    if (batch.length > 0) await db.results.insertMany(batch, { ordered: false });
    batch = [];
  };
  for await (const product of productInputsFrom(db, id, 1, rows)) {
    batch.push({
      _id: productId(id, product.row),
      request_id: id,
      row: product.row,
      output_urls: product.input_urls.map((url) =>
        outputImageUrl(`${apiUrl}/images/`, contentKey([url], 'jpg')),
      ),
      errors: [],
      recorded_at: now,
    });
    products += 1;
    images += product.input_urls.length;
    if (batch.length === 1000) await flush();
  }
  await flush();
  const counts = {
    products_done: products,
    images_succeeded: images,
    images_failed: 0,
    failures_by_code: {},
  };
  const request = await findRequest(db, id);
  if (!request) throw new Error(`request ${id} is gone`);
  const keepStarted = performance.now();
  const resultFile = await keepResultFile(db, request);
  const resultFileSeconds = (performance.now() - keepStarted) / 1000;
  if (!(await markRequestCompleted(db, id, counts, new Date(), resultFile))) {
    throw new Error(`request ${id} could not be completed`);
  }
  return { images, resultFileSeconds };
}

function occurrences(text: Buffer, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

/**
 * Uploads a CSV of `rows` products to the real API program and measures the upload's time, the API process's
 * peak resident memory above its idle level (from /proc: VmHWM minus VmRSS before), and the time to download
 * the result once every product has its output URLs and the request is completed. The CSV's image URLs are
 * never fetched: no worker runs.
 */
export async function measureIngestion(
  rows: number,
  connections: { mongoUrl: string; redisUrl: string },
  storageDir: string,
): Promise<IngestResult> {
  const api = await startApiProcess(connections, storageDir);
  const { url } = api;
  try {
    const csv = catalogueCsv(rows);
    const idle = await api.residentKb('VmRSS');

    const form = new FormData();
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'catalogue.csv');
    const uploadStarted = performance.now();
    const upload = await fetch(`${url}/api/upload`, { method: 'POST', body: form });
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;
    if (upload.status !== 202) throw new Error(`upload answered ${upload.status}: ${await upload.text()}`);
    const peak = await api.residentKb('VmHWM');
    const { request_id: id } = (await upload.json()) as { request_id: string };

    // No worker runs: every product gets the result a worker would have recorded and the request is closed,
    // so that the download carries its output column in full.
    const fillStarted = performance.now();
    const db = await connectDatabase(connections.mongoUrl, 'bench');
    let images: number;
    let resultFileSeconds: number;
    try {
      ({ images, resultFileSeconds } = await finishAsAWorkerWould(db, id, rows, url));
    } finally {
      await db.close();
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const downloadStarted = performance.now();
    const download = await fetch(`${url}/api/download/${id}`);
    if (download.status !== 200) throw new Error(`download answered ${download.status}`);
    const body = Buffer.from(await download.arrayBuffer());
    const downloadSeconds = (performance.now() - downloadStarted) / 1000;
    const outputUrls = occurrences(body, `${url}/images/`);
    if (outputUrls !== images) {
      throw new Error(`the result holds ${outputUrls} output URLs for ${images} images`);
    }

    return {
      rows,
      csv_mb: round(Buffer.byteLength(csv) / 1e6),
      upload_seconds: round(uploadSeconds),
      api_rss_growth_mb: round((peak - idle) / 1024),
      results_fill_seconds: round(fillSeconds),
      result_file_seconds: round(resultFileSeconds),
      output_urls: outputUrls,
      download_seconds: round(downloadSeconds),
      download_mb: round(body.length / 1e6),
    };
  } finally {
    await api.program.stop();
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
