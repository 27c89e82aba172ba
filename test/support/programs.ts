import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { freePort } from '@imgsvc/local-services';
import { pollUntil } from './poll.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ENTRY_POINTS = { api: 'apps/api/src/main.ts', worker: 'apps/worker/src/main.ts' } as const;

export interface RunningProgram {
  readonly child: ChildProcess;
  /** Everything it printed, stdout and stderr. */
  output(): string;
  /** Sends the signal and waits for the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `npm run start:api` or `npm run start:worker`'s program as a real process with its own environment,
 * from this checkout or from another one given as `root` (the benchmark's baseline).
 */
export function startProgram(
  program: keyof typeof ENTRY_POINTS,
  environment: Record<string, string>,
  nodeOptions: readonly string[] = [],
  root: string = ROOT,
): RunningProgram {
  return spawnProgram([...nodeOptions, '--import', 'tsx', ENTRY_POINTS[program]], environment, root);
}

/** Starts a bundle of `npm run build` (dist/api.mjs, dist/worker.mjs) as the images run it: plain Node. */
export function startBuiltProgram(bundle: string, environment: Record<string, string>): RunningProgram {
  return spawnProgram(['--enable-source-maps', bundle], environment, ROOT);
}

/** Starts Node with these arguments as a real process: its output kept, stopped by a signal. */
export function spawnProgram(
  args: readonly string[],
  environment: Record<string, string>,
  cwd: string,
): RunningProgram {
  const child = spawn(process.execPath, args, {
    cwd,
    env: {
      PATH: readMachineEnvironment().path,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      // Many workers run on one machine in tests: each one asks for a metrics port only when a test wants it.
      WORKER_METRICS_PORT: '0',
      ...environment,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface RunningService {
  readonly apiUrl: string;
  readonly api: RunningProgram;
  readonly worker: RunningProgram;
  stop(): Promise<void>;
}

/** The API and one worker as separate processes sharing one environment; resolves once the API is ready. */
export async function startService(environment: Record<string, string>): Promise<RunningService> {
  // A test that must know the port first (a PUBLIC_BASE_URL naming it) gives PORT itself.
  const port = environment.PORT ? Number(environment.PORT) : await freePort();
  const shared = { HOST: '127.0.0.1', ...environment, PORT: String(port) };
  const worker = startProgram('worker', shared);
  const api = startProgram('api', shared);
  const apiUrl = `http://127.0.0.1:${port}`;
  try {
    await pollUntil(
      async () => {
        if (api.child.exitCode !== null) throw new Error(`the API exited:\n${api.output()}`);
        const response = await fetch(`${apiUrl}/health/ready`);
        return response.ok ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'API ready' },
    );
    await pollUntil(async () => (worker.output().includes('worker ready') ? true : undefined), {
      timeoutMs: 30_000,
      what: `worker ready\n${worker.output()}`,
    });
  } catch (error) {
    await Promise.all([api.stop('SIGKILL'), worker.stop('SIGKILL')]);
    throw error;
  }
  return {
    apiUrl,
    api,
    worker,
    async stop() {
      await Promise.all([api.stop(), worker.stop()]);
    },
  };
}

/** The lines in which a worker put a request's job back to wait for the storage (a full disk, a store down). */
export function storageWaits(worker: RunningProgram, requestId: string): string[] {
  return worker
    .output()
    .split('\n')
    .filter(
      (line) => line.includes(requestId) && line.includes('storage unavailable; job waits and tries again'),
    );
}

/** Resolves once a started worker says it is ready (connected to Redis, taking jobs). */
export async function workerReady(worker: RunningProgram, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    async () => {
      if (worker.child.exitCode !== null) throw new Error(`the worker exited:\n${worker.output()}`);
      return worker.output().includes('worker ready') ? true : undefined;
    },
    { timeoutMs, what: 'worker ready' },
  );
}

/** Resolves once the API answers /health/ready with 200. */
export async function apiReady(apiUrl: string, api: RunningProgram, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    async () => {
      if (api.child.exitCode !== null) throw new Error(`the API exited:\n${api.output()}`);
      return (await fetch(`${apiUrl}/health/ready`)).ok ? true : undefined;
    },
    { timeoutMs, what: 'API ready' },
  );
}
