/**
 * `imgsvc`, the command-line client, run as a person or a nightly script runs it (a real process, its output
 * piped, so not a terminal) against the real API and worker programs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { freePort } from '@imgsvc/local-services';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER } from './support/api.js';
import {
  type HeldRequests,
  serveFilesHolding,
  startHttpServer,
  type TestHttpServer,
} from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'apps', 'cli', 'bin', 'imgsvc.js');
const PUBLIC_STAND_IN = '127.0.0.2';
const API_KEY = 'cli-tenant-key';

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `imgsvc` with these arguments; its key and address come from the environment, as a script's would. */
function startCli(args: readonly string[], baseUrl: string): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: readMachineEnvironment().path, IMGSVC_URL: baseUrl, IMGSVC_KEY: API_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { child, done };
}

const runCli = (args: readonly string[], baseUrl: string) => startCli(args, baseUrl).done;

describe('the imgsvc command', () => {
  let images: TestHttpServer;
  let service: RunningService;
  let folder: string;
  /** Image requests under /slow/, held until the test lets them go. */
  let held: HeldRequests;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'imgsvc-cli-'));
    const files = new Map<string, { body: Buffer; type: string }>();
    for (const [index, name] of ['front', 'back', 'side'].entries()) {
      files.set(`/photos/${name}.jpg`, {
        body: await photoLikeJpeg(800, 600, index + 1),
        type: 'image/jpeg',
      });
    }
    files.set('/photos/notes.txt', { body: Buffer.from('not an image'), type: 'image/jpeg' });
    const holding = serveFilesHolding(files);
    held = holding.held;
    images = await startHttpServer(holding.handler, PUBLIC_STAND_IN);
    service = await startService({
      MONGO_URL: testMongoUrl('cli'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: join(folder, 'images'),
      API_KEYS: API_KEY,
      FETCH_ALLOW_NETWORKS: `${PUBLIC_STAND_IN}/32`,
      WORKER_CONCURRENCY: '2',
    });
  });
  afterAll(async () => {
    held?.release();
    await service?.stop();
    await images?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  const catalogue = async (name: string, rows: string[]) => {
    const path = join(folder, name);
    await writeFile(path, `${CSV_HEADER}\n${rows.join('\n')}\n`);
    return path;
  };

  it('uploads, follows the request, saves the result and exits 0 when every image succeeded', async () => {
    const file = await catalogue('all-good.csv', [
      `1,Tote,"${images.url}/photos/front.jpg, ${images.url}/photos/back.jpg"`,
      `2,Mug,${images.url}/photos/side.jpg`,
    ]);
    const out = join(folder, 'all-good-result.csv');
    const run = await runCli(['upload', file, '--wait', '--out', out], service.apiUrl);
    expect(run.code, run.stderr).toBe(0);
    const rows = parse(await readFile(out, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.map((row) => row['Product Name'])).toEqual(['Tote', 'Mug']);
    expect(rows[0]?.['Output Image Urls']?.split(', ')).toHaveLength(2);
    expect(run.stdout).toMatch(/completed: 3 of 3 images succeeded, 0 failed, in 2 products/);
    expect(run.stdout).toMatch(/Bytes: [\d.]+ kB in, [\d.]+ kB out, \d+% saved \(3 images\)/);
    expect(run.stdout).toContain(`Result: ${out}`);
    // Not a terminal: plain progress lines, no escape codes anywhere.
    expect(run.stderr).toMatch(/^completed 100%, products 2\/2, images 3\/3/m);
    expect(`${run.stdout}${run.stderr}`).not.toContain('\u001b');
  });

  it('exits 2 when images failed, naming their codes; retry and download work on that request', async () => {
    const file = await catalogue('some-bad.csv', [
      `1,Tote,"${images.url}/photos/front.jpg, ${images.url}/photos/missing.jpg"`,
      `2,Notes,${images.url}/photos/notes.txt`,
    ]);
    const run = await runCli(['upload', file, '--wait', '--json'], service.apiUrl);
    expect(run.code, run.stderr).toBe(2);
    const status = JSON.parse(run.stdout) as {
      request_id: string;
      status: string;
      counts: { failures_by_code: Record<string, number> };
    };
    expect(status.status).toBe('completed');
    expect(status.counts.failures_by_code).toMatchObject({ http_404: 1, not_an_image: 1 });

    const watched = await runCli(['watch', status.request_id], service.apiUrl);
    expect(watched.code).toBe(2);
    expect(watched.stdout).toMatch(/completed with failures: 1 of 3 images succeeded, 2 failed/);
    expect(watched.stdout).toMatch(/Failed by code: (http_404 1, not_an_image 1|not_an_image 1, http_404 1)/);

    const json = join(folder, 'some-bad.json');
    const downloaded = await runCli(['download', status.request_id, '--out', json], service.apiUrl);
    expect(downloaded.code, downloaded.stderr).toBe(0);
    const result = JSON.parse(await readFile(json, 'utf8')) as { products: unknown[] };
    expect(result.products).toHaveLength(2);

    const retried = await runCli(['retry', status.request_id, '--wait'], service.apiUrl);
    expect(retried.code, retried.stderr).toBe(2);
    expect(retried.stderr).toMatch(/Accepted: request [0-9a-f-]{36}/);
    expect(retried.stdout).toMatch(/0 of 2 images succeeded, 2 failed, in 2 products/);
  });

  it('exits 4 on a refused file and prints each problem with its line', async () => {
    const file = await catalogue('refused.csv', ['1,Tote,not-a-url', 'two,Mug,']);
    const run = await runCli(['upload', file, '--wait'], service.apiUrl);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/^Invalid CSV rows \(422 csv_invalid_rows\): 3 problems/);
    expect(run.stderr).toMatch(/^ {2}line 2, column "Input Image Urls": .+/m);
    expect(run.stderr).toMatch(/^ {2}line 3, column "S\. No\.": .+/m);
    expect(run.stdout).toBe('');
  });

  it('exits 1 with a clear line when the service cannot be reached, or the request is unknown', async () => {
    // A port nothing listens on.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await runCli(['status', '00000000-0000-4000-8000-000000000000'], closed);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(`cannot reach ${closed}: ECONNREFUSED\n`);
    const unknown = await runCli(['status', '00000000-0000-4000-8000-000000000000'], service.apiUrl);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/request_not_found/);
    const version = await runCli(['--version'], service.apiUrl);
    expect([version.code, version.stdout]).toEqual([0, '0.1.0\n']);
    const usage = await runCli(['upload'], service.apiUrl);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/missing required argument 'file'/);
  });

  it('leaves the request running on Ctrl-C and says how to follow it again', async () => {
    const file = await catalogue('slow.csv', [`1,Tote,${images.url}/slow/front.jpg`]);
    const cli = startCli(['upload', file, '--wait'], service.apiUrl);
    await pollUntil(async () => (held.count > 0 ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the image requested',
    });
    cli.child.kill('SIGINT');
    const run = await cli.done;
    expect(run.code).toBe(130);
    const id = /Accepted: request ([0-9a-f-]{36})/.exec(run.stderr)?.[1] ?? '';
    expect(run.stderr).toContain(`follow it again with: imgsvc watch ${id}`);
    held.release();
    const watched = await runCli(['watch', id], service.apiUrl);
    expect(watched.code, watched.stderr).toBe(0);
  });
});
