import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalServer } from './local-server.js';
import { startProcess } from './managed-process.js';
import { askTcp, freePort, waitUntil } from './network.js';
import {
  claimDataFolder,
  type DataFolderOwner,
  type OwnedServerSpec,
  recordServer,
  releaseDataFolder,
  stopServerProcess,
} from './server-record.js';

export async function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  const answer = await askTcp(host, port, 'PING\r\n', timeoutMs);
  return answer?.startsWith('+PONG') ?? false;
}

export interface RedisServerOptions {
  /** Keep the queue across restarts (append-only file); test runs turn it off. */
  readonly persistent: boolean;
  /** The port to listen on, to restart a server where it was; a free one otherwise. */
  readonly port?: number;
  /** How many numbered databases the server holds (Redis's default is 16); a test run gives each file one. */
  readonly databases?: number;
  /**
   * Own the data folder (the embedded default): record the server in `dataDir/server.pid`, and first reuse or
   * stop a server that a process which died left on it.
   */
  readonly owner?: DataFolderOwner;
}

/** Starts redis-server on a loopback port with its files in dataDir. */
export async function startRedisServer(
  binary: string,
  dataDir: string,
  options: RedisServerOptions,
): Promise<LocalServer> {
  await mkdir(dataDir, { recursive: true });
  const owned: OwnedServerSpec | undefined = options.owner && {
    server: 'redis-server',
    binary,
    dataDir,
    marker: ['--dir', dataDir],
    answers: (port) => redisAnswers('127.0.0.1', port),
    log: options.owner.log,
  };
  if (owned) {
    const adopted = await claimDataFolder(owned);
    if (adopted) {
      return {
        url: `redis://127.0.0.1:${adopted.port}`,
        description: `redis-server ${binary} on 127.0.0.1:${adopted.port} (data in ${dataDir}, pid ${adopted.pid}, reused)`,
        pid: adopted.pid,
        stop: async () => {
          await stopServerProcess(adopted.pid, 5000);
          await releaseDataFolder(dataDir);
        },
      };
    }
  }
  const port = options.port ?? (await freePort());
  const server = startProcess(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      // Keep the command line as given (Redis would rewrite it to its title), so that /proc shows which data
      // folder this server serves.
      '--set-proc-title',
      'no',
      '--save',
      '',
      '--appendonly',
      options.persistent ? 'yes' : 'no',
      '--protected-mode',
      'yes',
      '--databases',
      String(options.databases ?? 16),
    ],
    join(dataDir, 'redis-server.log'),
  );
  try {
    if (owned && server.child.pid !== undefined) await recordServer(owned, server.child.pid, port);
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
    if (owned) await releaseDataFolder(dataDir);
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    description: `redis-server ${binary} on 127.0.0.1:${port} (data in ${dataDir}, pid ${server.child.pid})`,
    ...(server.child.pid ? { pid: server.child.pid } : {}),
    stop: async () => {
      await server.stop();
      if (owned) await releaseDataFolder(dataDir);
    },
  };
}
