import { readFile } from 'node:fs/promises';
import { connectDatabase } from '@imgsvc/db';
import { freePort } from '@imgsvc/local-services';
import { catalogueCsv } from '../test/support/catalogue.js';
import { pollUntil } from '../test/support/poll.js';
import { startProgram } from '../test/support/programs.js';

export interface IngestResult {
  readonly rows: number;
  readonly csv_mb: number;
  readonly upload_seconds: number;
  readonly api_rss_growth_mb: number;
  readonly download_seconds: number;
  readonly download_mb: number;
}

async function residentKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
}

/**
 * Uploads a CSV of `rows` products to the real API program and measures the upload's time, the API process's
 * peak resident memory above its idle level (from /proc: VmHWM minus VmRSS before), and the time to download
 * the result once the request is closed.
 */
export async function measureIngestion(
  rows: number,
  connections: { mongoUrl: string; redisUrl: string },
  storageDir: string,
): Promise<IngestResult> {
  const port = await freePort();
  const api = startProgram('api', {
    PORT: String(port),
    MONGO_URL: connections.mongoUrl,
    REDIS_URL: connections.redisUrl,
    STORAGE_DIR: storageDir,
    LOG_LEVEL: 'warn',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await pollUntil(async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      what: 'API ready',
    });
    const pid = api.child.pid ?? 0;
    const csv = catalogueCsv(rows);
    const idle = await residentKb(pid, 'VmRSS');

    const form = new FormData();
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'catalogue.csv');
    const uploadStarted = performance.now();
    const upload = await fetch(`${url}/api/upload`, { method: 'POST', body: form });
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;
    if (upload.status !== 202) throw new Error(`upload answered ${upload.status}: ${await upload.text()}`);
    const peak = await residentKb(pid, 'VmHWM');
    const { request_id: id } = (await upload.json()) as { request_id: string };

    // No worker runs: the request is closed directly so that the full result can be downloaded.
    const db = await connectDatabase(connections.mongoUrl, 'bench');
    await db.requests.updateOne({ _id: id }, { $set: { status: 'completed', finished_at: new Date() } });
    await db.close();
    const downloadStarted = performance.now();
    const download = await fetch(`${url}/api/download/${id}`);
    const bytes = (await download.arrayBuffer()).byteLength;
    const downloadSeconds = (performance.now() - downloadStarted) / 1000;

    return {
      rows,
      csv_mb: round(Buffer.byteLength(csv) / 1e6),
      upload_seconds: round(uploadSeconds),
      api_rss_growth_mb: round((peak - idle) / 1024),
      download_seconds: round(downloadSeconds),
      download_mb: round(bytes / 1e6),
    };
  } finally {
    await api.stop();
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
