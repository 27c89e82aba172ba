import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { MongoClient } from 'mongodb';
import sharp from 'sharp';
import { csvForm } from '../test/support/api.js';
import { STANDARD_COLUMNS } from '../test/support/catalogue.js';
import { startHttpServer } from '../test/support/http-server.js';
import { apiReady, type RunningProgram, startProgram, workerReady } from '../test/support/programs.js';
import { type Connections, catalogueCsv, startFinishLine } from './harness.js';

export interface SmallRequestsPass {
  /** Requests stored before the pass began (seeded history and earlier passes). */
  readonly stored_before: number;
  readonly requests: number;
  /** Requests finished (webhook received) before the pass's deadline. */
  readonly completed: number;
  readonly seconds: number;
  /** Requests finished per second, from the first upload sent to the last webhook (or to the deadline). */
  readonly requests_per_second: number;
  readonly upload_p50_ms: number;
  readonly upload_p99_ms: number;
  /** Upload to webhook, per request. */
  readonly completion_p50_ms: number;
  readonly completion_p99_ms: number;
  /** When the first request finished, from the first upload. */
  readonly first_completed_ms: number;
  /** Answers other than 202 (each one retried until accepted, and counted here). */
  readonly refused: Record<string, number>;
}

export interface SmallRequestsResult {
  readonly tenants: number;
  readonly in_flight: number;
  readonly rows_per_request: number;
  readonly history: number;
  readonly fresh: SmallRequestsPass;
  readonly with_history: SmallRequestsPass;
  /** with_history's rate over fresh's. */
  readonly history_ratio: number;
}

const KEYS = ['bench-small-a-0123456789abcdef', 'bench-small-b-0123456789abcdef', 'bench-small-c-0123456789'];
const IN_FLIGHT = 24;
const ROWS = 2;

/** The owner a key's requests are stored under (the API's hash of the key). */
const ownerOf = (key: string) => createHash('sha256').update(`owner:${key}`).digest('hex').slice(0, 32);

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0);
};

/**
 * Many small requests, as back offices send them: `requests` uploads of two products (one small JPEG each,
 * every URL new) from three tenants, 24 in flight, against the API and one worker with their default settings
 * — on an empty database, then again once `history` finished requests (each with two products and their
 * results, as the service stores them) are stored. Timed from the first upload to the last webhook.
 */
export async function measureSmallRequests(
  connections: Connections,
  settings: {
    readonly requests: number;
    readonly history: number;
    /** A pass still running after this long is cut short and rated on the requests finished by then. */
    readonly deadlineMs: number;
  },
  log: (message: string) => void,
): Promise<SmallRequestsResult> {
  const { requests, history, deadlineMs } = settings;
  const image = await sharp({
    create: { width: 480, height: 360, channels: 3, background: { r: 120, g: 90, b: 60 } },
  })
    .composite([
      {
        input: await sharp({
          create: { width: 200, height: 120, channels: 3, background: { r: 20, g: 160, b: 200 } },
        })
          .png()
          .toBuffer(),
        left: 60,
        top: 80,
      },
    ])
    .jpeg({ quality: 90 })
    .toBuffer();
  const images = await startHttpServer((_request, response) => {
    response.setHeader('content-type', 'image/jpeg');
    response.end(image);
  });
  const finishLine = await startFinishLine();
  const workDir = await mkdtemp(join(tmpdir(), 'image-service-bench-small-'));
  const database = `bench_small_requests_${Date.now()}`;
  const environment = {
    MONGO_URL: `${connections.mongoUrl}/${database}`,
    REDIS_URL: connections.redisUrl,
    STORAGE_DIR: join(workDir, 'images'),
    FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
    API_KEYS: KEYS.join(','),
    LOG_LEVEL: 'info',
  };
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const programs: RunningProgram[] = [];
  let serial = 0;
  const pass = async (count: number, storedBefore: number): Promise<SmallRequestsPass> => {
    const uploads: number[] = [];
    const completions: number[] = [];
    const refused: Record<string, number> = {};
    const started = performance.now();
    const deadline = started + deadlineMs;
    let firstCompleted = Number.POSITIVE_INFINITY;
    let next = 0;
    const waits: Promise<void>[] = [];
    const client = async () => {
      while (next < count && performance.now() < deadline) {
        const index = next++;
        const key = KEYS[index % KEYS.length] ?? '';
        const run = ++serial;
        const body = catalogueCsv(
          Array.from({ length: ROWS }, (_, row) => [`${images.url}/r${run}-${row + 1}.jpg`]),
        );
        const sent = performance.now();
        let id: string | undefined;
        while (!id && performance.now() < deadline) {
          const response = await fetch(`${apiUrl}/api/upload`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}` },
            body: csvForm(body, { webhook_url: finishLine.url }),
          }).catch((error: Error) => {
            // An answer before the body was sent (a refusal) closes the connection under the client.
            const reason = `${(error.cause as { code?: string } | undefined)?.code ?? error.message}`;
            refused[reason] = (refused[reason] ?? 0) + 1;
            return undefined;
          });
          if (!response) {
            await new Promise((resolve) => setTimeout(resolve, 100));
          } else if (response.status === 202) {
            id = ((await response.json()) as { request_id: string }).request_id;
          } else {
            refused[response.status] = (refused[response.status] ?? 0) + 1;
            await response.arrayBuffer();
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        if (!id) break;
        uploads.push(performance.now() - sent);
        const requestId = id;
        waits.push(
          finishLine.finished(requestId, Math.max(1, deadline - performance.now())).then(() => {
            const now = performance.now();
            completions.push(now - sent);
            firstCompleted = Math.min(firstCompleted, now - started);
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, client));
    // A request not finished by the deadline is left out (its wait rejects).
    await Promise.allSettled(waits);
    const seconds = (performance.now() - started) / 1000;
    return {
      stored_before: storedBefore,
      requests: count,
      completed: completions.length,
      seconds: Math.round(seconds * 100) / 100,
      requests_per_second: Math.round((completions.length / seconds) * 10) / 10,
      upload_p50_ms: percentile(uploads, 50),
      upload_p99_ms: percentile(uploads, 99),
      completion_p50_ms: percentile(completions, 50),
      completion_p99_ms: percentile(completions, 99),
      first_completed_ms: Math.round(firstCompleted),
      refused,
    };
  };
  const client = new MongoClient(`${connections.mongoUrl}/${database}`);
  try {
    programs.push(startProgram('api', { ...environment, PORT: String(port) }));
    programs.push(startProgram('worker', environment));
    await Promise.all([
      apiReady(apiUrl, programs[0] as RunningProgram),
      workerReady(programs[1] as RunningProgram),
    ]);
    log(`small requests: ${requests} on an empty store`);
    const fresh = await pass(requests, 0);
    log(`small requests: storing ${history} finished requests`);
    await seedHistory(client, database, history, images.url);
    log(`small requests: ${requests} with ${history + requests} stored`);
    const withHistory = await pass(requests, history + requests);
    return {
      tenants: KEYS.length,
      in_flight: IN_FLIGHT,
      rows_per_request: ROWS,
      history,
      fresh,
      with_history: withHistory,
      history_ratio: Math.round((withHistory.requests_per_second / fresh.requests_per_second) * 100) / 100,
    };
  } finally {
    await Promise.all(programs.map((program) => program.stop('SIGKILL')));
    await client.close();
    await Promise.all([images.close(), finishLine.close()]);
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Stores `count` finished requests of two products each, with their results, as the service leaves them: the
 * documents of requests/products/product_results in the shapes the service writes, a thousand per command.
 */
async function seedHistory(client: MongoClient, database: string, count: number, imagesUrl: string) {
  const db = client.db(database);
  const batch = 1000;
  for (let first = 0; first < count; first += batch) {
    const requests = [];
    const products = [];
    const results = [];
    for (let index = first; index < Math.min(count, first + batch); index += 1) {
      const id = randomUUID();
      const at = new Date(Date.now() - (count - index) * 1000);
      requests.push({
        _id: id,
        owner: ownerOf(KEYS[index % KEYS.length] ?? ''),
        status: 'completed',
        created_at: at,
        updated_at: at,
        started_at: at,
        finished_at: at,
        columns: STANDARD_COLUMNS,
        totals: { products: ROWS, images: ROWS },
        counts: {
          products_done: ROWS,
          images_succeeded: ROWS,
          images_failed: 0,
          failures_by_code: {},
        },
        webhook: {
          url: 'http://127.0.0.1:9/finished',
          state: 'delivered',
          event: 'request.completed',
          attempts: 1,
          last_error: null,
          delivered_at: at,
        },
        error_message: null,
      });
      for (let row = 1; row <= ROWS; row += 1) {
        const productId = `${id}:${String(row).padStart(9, '0')}`;
        const key = createHash('sha256').update(`${id}-${row}`).digest('hex');
        products.push({
          _id: productId,
          request_id: id,
          row,
          serial_number: row,
          product_name: `Product ${row}`,
          input_urls: [`${imagesUrl}/history-${index}-${row}.jpg`],
          input_cell: `${imagesUrl}/history-${index}-${row}.jpg`,
        });
        results.push({
          _id: productId,
          request_id: id,
          row,
          output_urls: [`http://127.0.0.1:3000/images/${key}.jpg`],
          output_keys: [`${key}.jpg`],
          errors: [],
          image_sizes: [{ input_bytes: 40_000, output_bytes: 12_000 }],
          recorded_at: at,
        });
      }
    }
    await db.collection('products').insertMany(products as never[], { ordered: false });
    await db.collection('product_results').insertMany(results as never[], { ordered: false });
    await db.collection('requests').insertMany(requests as never[], { ordered: false });
  }
}
