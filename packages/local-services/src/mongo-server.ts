import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalServer } from './local-server.js';
import { startProcess } from './managed-process.js';
import { canConnect, freePort, waitUntil } from './network.js';

async function startAndWait(
  name: string,
  binary: string,
  args: (port: number) => string[],
  dataDir: string,
  describe: (port: number) => string,
  fixedPort?: number,
): Promise<LocalServer> {
  await mkdir(dataDir, { recursive: true });
  const port = fixedPort ?? (await freePort());
  const server = startProcess(binary, args(port), join(dataDir, `${name}.log`));
  try {
    await waitUntil(
      async () => {
        if (server.exited()) throw new Error(`${name} exited:\n${await server.logTail()}`);
        return canConnect('127.0.0.1', port, 500);
      },
      60_000,
      name,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url: `mongodb://127.0.0.1:${port}`,
    description: `${describe(port)} (data in ${dataDir}, pid ${server.child.pid})`,
    stop: () => server.stop(10_000),
  };
}

export async function startMongod(binary: string, dataDir: string): Promise<LocalServer> {
  const dbPath = join(dataDir, 'db');
  await mkdir(dbPath, { recursive: true });
  return startAndWait(
    'mongod',
    binary,
    (port) => ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dbPath, '--quiet'],
    dataDir,
    (port) => `mongod ${binary} on 127.0.0.1:${port}`,
  );
}

/**
 * FerretDB with its embedded SQLite backend: every database is a SQLite file under dataDir/sqlite. A port may be
 * given to restart a server where it was.
 */
export async function startFerretDb(
  binary: string,
  dataDir: string,
  fixedPort?: number,
): Promise<LocalServer> {
  const sqliteDir = join(dataDir, 'sqlite');
  const stateDir = join(dataDir, 'state');
  await mkdir(sqliteDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  return startAndWait(
    'ferretdb',
    binary,
    (port) => [
      '--handler=sqlite',
      `--sqlite-url=file:${sqliteDir}/`,
      `--state-dir=${stateDir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=127.0.0.1:0',
      '--telemetry=disable',
      '--log-level=warn',
    ],
    dataDir,
    (port) => `FerretDB 1.24 (SQLite backend) ${binary} on 127.0.0.1:${port}`,
    fixedPort,
  );
}
