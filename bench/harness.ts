import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { csvForm } from '../test/support/api.js';
import { startHttpServer } from '../test/support/http-server.js';
import { apiReady, type RunningProgram, startProgram, workerReady } from '../test/support/programs.js';

export interface Connections {
  readonly mongoUrl: string;
  readonly redisUrl: string;
}

export interface ServedImage {
  readonly body: Buffer;
  readonly type: string;
}

export interface StatusBody {
  status: string;
  counts: { products: number; products_done: number; images_succeeded: number; images_failed: number };
}

export interface PipelineHarness {
  readonly apiUrl: string;
  readonly imagesUrl: string;
  readonly api: RunningProgram;
  startWorker(extra?: Record<string, string>, nodeOptions?: readonly string[]): Promise<RunningProgram>;
  /** Uploads one product per cell list, with the harness's webhook receiver; resolves with the request id. */
  upload(urls: readonly (readonly string[])[]): Promise<string>;
  /**
   * Waits for the request's webhook (as a client that does not poll would), then reads its status once. The
   * status must satisfy `done`.
   */
  waitFor(id: string, done: (status: StatusBody) => boolean, timeoutMs: number): Promise<StatusBody>;
  /** Removes every stored output, so that the next pass encodes every image again. */
  clearStorage(): Promise<void>;
  /** Bytes of every output stored now (outputs in a folder; undefined for a bucket). */
  storedBytes(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** A bucket the pipeline keeps its outputs in. */
export interface BenchBucket {
  readonly environment: Readonly<Record<string, string>>;
  empty(): Promise<void>;
}

/**
 * The real API and worker programs over the given servers (a database of their own), with images served by
 * path from a local HTTP server, `delayMs` late.
 */
export async function pipelineHarness(
  connections: Connections,
  database: string,
  images: ReadonlyMap<string, ServedImage>,
  delayMs = 0,
  /** The checkout whose programs run (this one unless the baseline's). */
  root?: string,
  /** Outputs in a bucket rather than the folder: the programs' S3_* settings, and how to empty it. */
  bucket?: BenchBucket,
): Promise<PipelineHarness> {
  const workDir = await mkdtemp(join(tmpdir(), 'image-service-bench-'));
  // A static file server as image hosts and CDNs run them: each file with an ETag, answering 304 to a
  // conditional request for the version it still has.
  const etags = new Map(
    [...images].map(([path, image]) => [path, `"${createHash('sha1').update(image.body).digest('hex')}"`]),
  );
  const server = await startHttpServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const image = images.get(path);
    if (!image) {
      response.statusCode = 404;
      response.end();
      return;
    }
    const etag = etags.get(path) ?? '';
    const send = () => {
      response.setHeader('etag', etag);
      if (request.headers['if-none-match'] === etag) {
        response.statusCode = 304;
        response.end();
        return;
      }
      response.setHeader('content-type', image.type);
      response.end(image.body);
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  });
  const finishLine = await startFinishLine();
  const environment = {
    MONGO_URL: `${connections.mongoUrl}/${database}`,
    REDIS_URL: connections.redisUrl,
    STORAGE_DIR: join(workDir, 'images'),
    FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '100000000',
    ...bucket?.environment,
  };
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const api = startProgram('api', { ...environment, PORT: String(port) }, [], root);
  await apiReady(apiUrl, api);
  const workers: RunningProgram[] = [];
  return {
    apiUrl,
    imagesUrl: server.url,
    api,
    async startWorker(extra = {}, nodeOptions = []) {
      const worker = startProgram(
        'worker',
        { ...environment, LOG_LEVEL: 'info', ...extra },
        nodeOptions,
        root,
      );
      workers.push(worker);
      await workerReady(worker);
      return worker;
    },
    async upload(urls) {
      const response = await fetch(`${apiUrl}/api/upload`, {
        method: 'POST',
        body: csvForm(catalogueCsv(urls), { webhook_url: finishLine.url }),
      });
      if (response.status !== 202)
        throw new Error(`upload answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { request_id: string }).request_id;
    },
    async waitFor(id, done, timeoutMs) {
      await finishLine.finished(id, timeoutMs);
      const response = await fetch(`${apiUrl}/api/status/${id}`);
      const status = (await response.json()) as StatusBody;
      if (!done(status)) throw new Error(`request ${id} finished as ${JSON.stringify(status)}`);
      return status;
    },
    async storedBytes() {
      return bucket ? undefined : folderBytes(join(workDir, 'images'));
    },
    async clearStorage() {
      if (bucket) return bucket.empty();
      // Its contents, not the folder: a storage folder that disappears is an outage the worker waits out.
      const storage = join(workDir, 'images');
      const entries = await readdir(storage).catch(() => []);
      await Promise.all(entries.map((entry) => rm(join(storage, entry), { recursive: true, force: true })));
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
      await api.stop('SIGKILL');
      await server.close();
      await finishLine.close();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** Bytes of the files in a folder and its subfolders (0 when it does not exist). */
export async function folderBytes(folder: string): Promise<number> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map(async (entry) => (await stat(join(entry.parentPath, entry.name))).size),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** The CSV of one product per cell list, numbered from 1. */
export function catalogueCsv(urls: readonly (readonly string[])[]): string {
  const rows = urls.map((cell, index) => `${index + 1},Product ${index + 1},"${cell.join(', ')}"`);
  return ['S. No.,Product Name,Input Image Urls', ...rows].join('\n');
}

/**
 * A webhook receiver at which finished requests announce themselves: waiting for one costs the service and
 * the machine nothing meanwhile, as for a client that does not poll.
 */
export async function startFinishLine(): Promise<{
  readonly url: string;
  /** Resolves once the request's webhook came (at once if it already did). */
  finished(id: string, timeoutMs: number, context?: () => string): Promise<void>;
  close(): Promise<void>;
}> {
  const announced = new Set<string>();
  const waiters = new Map<string, () => void>();
  const receiver = await startHttpServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    response.end();
    const event = JSON.parse(Buffer.concat(chunks).toString()) as { data: { request_id: string } };
    const id = event.data.request_id;
    announced.add(id);
    waiters.get(id)?.();
  });
  return {
    url: `${receiver.url}/finished`,
    async finished(id, timeoutMs, context) {
      if (announced.has(id)) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          reject(
            new Error(
              `no webhook for request ${id} within ${timeoutMs} ms${context ? `\n${context()}` : ''}`,
            ),
          );
        }, timeoutMs);
        waiters.set(id, () => {
          clearTimeout(timer);
          waiters.delete(id);
          resolve();
        });
      });
    },
    close: () => receiver.close(),
  };
}

/** The faster of a kept result (if any) and a new one: runs are repeated and the best kept. */
export function faster<T>(kept: T | undefined, next: T, rate: (result: T) => number): T {
  return kept !== undefined && rate(kept) >= rate(next) ? kept : next;
}

/** Two images per product, in order. */
export function twoPerProduct(urls: readonly string[]): string[][] {
  const products: string[][] = [];
  for (let index = 0; index < urls.length; index += 2) products.push(urls.slice(index, index + 2));
  return products;
}
