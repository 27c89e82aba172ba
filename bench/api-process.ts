import { readFile } from 'node:fs/promises';
import { freePort } from '@imgsvc/local-services';
import { pollUntil } from '../test/support/poll.js';
import { type RunningProgram, startProgram } from '../test/support/programs.js';

export interface ApiProcess {
  readonly url: string;
  readonly program: RunningProgram;
  /** The process's resident memory now (VmRSS) or at its peak so far (VmHWM), in kB, from /proc. */
  residentKb(field: 'VmRSS' | 'VmHWM'): Promise<number>;
}

/** The real API program alone (no worker) on the given servers, once it answers ready. */
export async function startApiProcess(
  connections: { mongoUrl: string; redisUrl: string },
  storageDir: string,
  environment: Record<string, string> = {},
): Promise<ApiProcess> {
  const port = await freePort();
  const program = startProgram('api', {
    PORT: String(port),
    MONGO_URL: connections.mongoUrl,
    REDIS_URL: connections.redisUrl,
    STORAGE_DIR: storageDir,
    LOG_LEVEL: 'warn',
    ...environment,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await pollUntil(async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      what: 'API ready',
    });
  } catch (error) {
    await program.stop('SIGKILL');
    throw error;
  }
  return {
    url,
    program,
    async residentKb(field) {
      const status = await readFile(`/proc/${program.child.pid ?? 0}/status`, 'utf8');
      return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
    },
  };
}
