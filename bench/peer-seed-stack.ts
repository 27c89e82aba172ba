/**
 * The seed's stack as a benchmark peer: bench/peers/seed-stack (FastAPI, Celery on Redis, Pillow at quality
 * 50, MongoDB through pymongo, a webhook at the end), run with Debian's python3-* packages on the same MongoDB
 * and Redis servers as the service, against the same image server, timed and costed the same way, in
 * alternation with the service's own passes (bench/run.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readMachineEnvironment } from '@imgsvc/config';
import { freePort } from '@imgsvc/local-services';
import { csvForm } from '../test/support/api.js';
import { pollUntil } from '../test/support/poll.js';
import { catalogueCsv, folderBytes, startFinishLine } from './harness.js';

const run = promisify(execFile);
const PEER_DIR = join(import.meta.dirname, 'peers', 'seed-stack');
/** Debian's interpreter, which Debian's python3-* packages serve (another python3 may come first on PATH). */
const PYTHON = '/usr/bin/python3';
const PACKAGES = [
  'python3-fastapi',
  'python3-uvicorn',
  'python3-celery',
  'python3-redis',
  'python3-pymongo',
  'python3-pil',
  'python3-requests',
  'python3-multipart',
];

/** Whether the peer's packages are importable, installing Debian's when they are missing and apt-get can. */
export async function ensureSeedStack(log: (message: string) => void): Promise<boolean> {
  const importable = () =>
    run(PYTHON, ['-c', 'import fastapi, uvicorn, celery, redis, pymongo, PIL, requests, multipart']).then(
      () => true,
      () => false,
    );
  if (await importable()) return true;
  log(`the seed stack's packages are missing: installing ${PACKAGES.join(' ')}`);
  try {
    await run('apt-get', ['install', '-y', '-qq', ...PACKAGES], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    log(`could not install them: ${(error as Error).message.split('\n')[0]}`);
    return false;
  }
  return importable();
}

export interface SeedStack {
  readonly apiUrl: string;
  /** The API process and the Celery worker (whose pool processes are its children). */
  readonly pids: readonly number[];
  /** Uploads one product per cell list, with a webhook; resolves with the request id. */
  upload(urls: readonly (readonly string[])[]): Promise<string>;
  /** Waits for the request's webhook, then reads its status once. */
  waitFor(id: string, timeoutMs: number): Promise<{ status: string; completion_percentage: number }>;
  clearStorage(): Promise<void>;
  /** Bytes of every image stored now. */
  storedBytes(): Promise<number>;
  close(): Promise<void>;
}

function startPython(args: readonly string[], environment: Record<string, string>) {
  const child = spawn(PYTHON, args, {
    cwd: PEER_DIR,
    env: { PATH: readMachineEnvironment().path, PYTHONDONTWRITEBYTECODE: '1', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

/**
 * Starts the peer's API (one uvicorn process) and one Celery worker with `concurrency` pool processes (Celery's
 * own default is one per core), on a database and a Redis database of their own.
 */
export async function startSeedStack(
  mongoUrl: string,
  redisUrl: string,
  concurrency: number,
): Promise<SeedStack> {
  const workDir = await mkdtemp(join(tmpdir(), 'seed-stack-'));
  const storage = join(workDir, 'images');
  await mkdir(storage);
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const environment = {
    MONGO_URL: mongoUrl,
    REDIS_URL: redisUrl,
    STORAGE_DIR: storage,
    PUBLIC_BASE_URL: apiUrl,
  };
  const finishLine = await startFinishLine();
  const api = startPython(
    ['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'],
    environment,
  );
  const worker = startPython(
    [
      '-m',
      'celery',
      '-A',
      'tasks',
      'worker',
      `--concurrency=${concurrency}`,
      '--loglevel=INFO',
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    environment,
  );
  const stop = async () => {
    for (const program of [api, worker]) {
      if (program.child.exitCode === null && program.child.signalCode === null) {
        program.child.kill('SIGKILL');
        await once(program.child, 'exit');
      }
    }
    await finishLine.close();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await pollUntil(
      async () => {
        if (api.child.exitCode !== null) throw new Error(`the seed API exited:\n${api.output()}`);
        const answer = await fetch(`${apiUrl}/api/status/000000000000000000000000`).catch(() => undefined);
        return answer?.status === 404 ? true : undefined;
      },
      { timeoutMs: 30_000, what: `the seed API\n${api.output()}` },
    );
    await pollUntil(
      async () => {
        if (worker.child.exitCode !== null) throw new Error(`the Celery worker exited:\n${worker.output()}`);
        return /ready\./.test(worker.output()) ? true : undefined;
      },
      { timeoutMs: 30_000, what: `the Celery worker\n${worker.output()}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    apiUrl,
    pids: [api.child.pid, worker.child.pid].filter((pid): pid is number => pid !== undefined),
    async upload(urls) {
      const answer = await fetch(`${apiUrl}/api/upload`, {
        method: 'POST',
        body: csvForm(catalogueCsv(urls), { webhook_url: finishLine.url }),
      });
      if (answer.status !== 202)
        throw new Error(`the seed upload answered ${answer.status}: ${await answer.text()}`);
      return ((await answer.json()) as { request_id: string }).request_id;
    },
    async waitFor(id, timeoutMs) {
      await finishLine.finished(id, timeoutMs, () => worker.output());
      return (await (await fetch(`${apiUrl}/api/status/${id}`)).json()) as {
        status: string;
        completion_percentage: number;
      };
    },
    async clearStorage() {
      const entries = await readdir(storage);
      await Promise.all(entries.map((entry) => rm(join(storage, entry), { force: true })));
    },
    storedBytes: () => folderBytes(storage),
    close: stop,
  };
}
