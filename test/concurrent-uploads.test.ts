import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '@imgsvc/config';
import { connectDatabase, type Database } from '@imgsvc/db';
import { freePort } from '@imgsvc/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maximumSizeCsv } from './support/catalogue.js';
import { apiReady, type RunningProgram, startProgram } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const UPLOADS = 4;
const KEYS = Array.from({ length: UPLOADS }, (_, index) => `concurrent-uploader-${index}-0123456789`);

describe('four maximum-size uploads at once, to the real API program', () => {
  let api: RunningProgram;
  let apiUrl: string;
  let storageDir: string;
  let db: Database;
  let csv: Blob;
  const { maxUploadBytes, maxRows } = loadConfig({}).upload;

  beforeAll(async () => {
    // Built before the API starts: building it blocks this process for seconds, during which a kept-alive
    // connection from the readiness check would lapse on the server's side and then be reused for an upload.
    csv = new Blob([maximumSizeCsv(maxUploadBytes, maxRows)], { type: 'text/csv' });
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-uploads-'));
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const mongoUrl = testMongoUrl('concurrent_uploads');
    // The defaults, load shedding included: only the keys (one per upload, as the per-key cap is two) are set.
    api = startProgram('api', {
      PORT: String(port),
      MONGO_URL: mongoUrl,
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      API_KEYS: KEYS.join(','),
      LOG_LEVEL: 'warn',
    });
    await apiReady(apiUrl, api);
    db = await connectDatabase(mongoUrl, 'concurrent-uploads-test');
  });
  afterAll(async () => {
    await api?.stop();
    await db?.close();
    if (storageDir) await rm(storageDir, { recursive: true, force: true });
  });

  it('stores all four while /health/live answers 200 throughout', async () => {
    expect(csv.size).toBeGreaterThan(maxUploadBytes * 0.85);

    let sending = true;
    const live: Record<string, number> = {};
    let slowestMs = 0;
    const probing = (async () => {
      while (sending) {
        const started = performance.now();
        const status = await fetch(`${apiUrl}/health/live`, { signal: AbortSignal.timeout(10_000) }).then(
          (response) => String(response.status),
          () => 'no answer',
        );
        slowestMs = Math.max(slowestMs, performance.now() - started);
        live[status] = (live[status] ?? 0) + 1;
        await delay(100); // a probe interval, not a wait for work
      }
    })();
    const answers = await Promise.all(
      KEYS.map(async (key) => {
        const form = new FormData();
        form.append('file', csv, 'catalogue.csv');
        const response = await fetch(`${apiUrl}/api/upload`, {
          method: 'POST',
          body: form,
          headers: { authorization: `Bearer ${key}` },
        });
        return { status: response.status, body: (await response.json()) as { request_id?: string } };
      }),
    );
    sending = false;
    await probing;
    console.log(
      `four maximum-size uploads: /health/live ${JSON.stringify(live)}, slowest ${Math.round(slowestMs)} ms`,
    );

    expect(answers.map((answer) => answer.status)).toEqual([202, 202, 202, 202]);
    expect(Object.keys(live)).toEqual(['200']);
    expect(live['200']).toBeGreaterThan(10);
    for (const { body } of answers) {
      const request = await db.requests.findOne({ _id: body.request_id ?? '' });
      expect(request?.totals.products).toBe(maxRows);
    }
    expect(await db.products.countDocuments({})).toBe(UPLOADS * maxRows);
    expect(await db.incoming.countDocuments({})).toBe(0);
  }, 240_000);
});
