import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalServer } from './local-server.js';
import { startProcess } from './managed-process.js';
import { askTcp, freePort, waitUntil } from './network.js';

export async function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  const answer = await askTcp(host, port, 'PING\r\n', timeoutMs);
  return answer?.startsWith('+PONG') ?? false;
}

/**
 * Starts redis-server on a free loopback port (or the one given, to restart a server where it was) with its
 * files in dataDir. `persistent` keeps the queue across restarts (append-only file); test runs turn it off.
 */
export async function startRedisServer(
  binary: string,
  dataDir: string,
  persistent: boolean,
  fixedPort?: number,
): Promise<LocalServer> {
  await mkdir(dataDir, { recursive: true });
  const port = fixedPort ?? (await freePort());
  const server = startProcess(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      '--save',
      '',
      '--appendonly',
      persistent ? 'yes' : 'no',
      '--protected-mode',
      'yes',
    ],
    join(dataDir, 'redis-server.log'),
  );
  try {
    await waitUntil(
      async () => {
        if (server.exited()) throw new Error(`redis-server exited:\n${await server.logTail()}`);
        return redisAnswers('127.0.0.1', port);
      },
      15_000,
      'redis-server',
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    description: `redis-server ${binary} on 127.0.0.1:${port} (data in ${dataDir}, pid ${server.child.pid})`,
    stop: () => server.stop(),
  };
}
