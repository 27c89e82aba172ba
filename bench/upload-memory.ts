import { maximumSizeCsv } from '../test/support/catalogue.js';
import { startApiProcess } from './api-process.js';
export interface UploadMemoryResult {
  readonly uploads: number;
  readonly rows_each: number;
  readonly mb_each: number;
  /** The API process's peak resident memory above its idle level while the uploads ran (/proc VmHWM). */
  readonly api_rss_growth_mb: number;
  readonly seconds: number;
  readonly statuses: readonly number[];
  /** `/health/live` asked every 100 ms meanwhile: its answers' statuses, and the slowest answer. */
  readonly live_statuses: Readonly<Record<string, number>>;
  readonly live_slowest_ms: number;
}

const MAX_UPLOAD_BYTES = 52_428_800;
const MAX_ROWS = 100_000;

/**
 * `uploads` maximum-size CSVs sent to the real API program at once (its default limits and upload caps), with
 * no worker: the API's peak memory above idle, and whether `/health/live` kept answering meanwhile.
 */
export async function measureUploadMemory(
  uploads: number,
  connections: { mongoUrl: string; redisUrl: string },
  storageDir: string,
): Promise<UploadMemoryResult> {
  // Built before the API starts: building it blocks this process for seconds, during which a kept-alive
  // connection from the readiness check would lapse on the server's side and then be reused for an upload.
  const csv = new Blob([maximumSizeCsv(MAX_UPLOAD_BYTES, MAX_ROWS)], { type: 'text/csv' });
  const api = await startApiProcess(connections, storageDir, {
    // One key per upload: the per-key cap (two at once) would refuse the third and fourth from one caller.
    API_KEYS: Array.from({ length: uploads }, (_, index) => `bench-uploader-${index}`).join(','),
  });
  const { url } = api;
  try {
    const idle = await api.residentKb('VmRSS');
    let sending = true;
    const live: Record<string, number> = {};
    let slowest = 0;
    const probing = (async () => {
      while (sending) {
        const started = performance.now();
        const status = await fetch(`${url}/health/live`).then(
          (response) => String(response.status),
          () => 'no answer',
        );
        slowest = Math.max(slowest, performance.now() - started);
        live[status] = (live[status] ?? 0) + 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: uploads }, async (_, index) => {
        const form = new FormData();
        form.append('file', csv, 'catalogue.csv');
        const response = await fetch(`${url}/api/upload`, {
          method: 'POST',
          body: form,
          headers: { authorization: `Bearer bench-uploader-${index}` },
        }).catch((error: unknown) => {
          throw new Error(
            `upload ${index + 1} failed: ${String(error)}; the API said:\n${api.program.output()}`,
          );
        });
        await response.arrayBuffer();
        return response.status;
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    sending = false;
    await probing;
    const peak = await api.residentKb('VmHWM');
    return {
      uploads,
      rows_each: MAX_ROWS,
      mb_each: Math.round((csv.size / 1e6) * 100) / 100,
      api_rss_growth_mb: Math.round(((peak - idle) / 1024) * 100) / 100,
      seconds: Math.round(seconds * 100) / 100,
      statuses,
      live_statuses: live,
      live_slowest_ms: Math.round(slowest),
    };
  } finally {
    await api.program.stop();
  }
}
