import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalServer } from './local-server.js';
import { startProcess } from './managed-process.js';
import { canConnect, freePort, waitUntil } from './network.js';
import {
  claimDataFolder,
  type DataFolderOwner,
  type OwnedServerSpec,
  recordServer,
  releaseDataFolder,
  stopServerProcess,
} from './server-record.js';

const answers = (port: number) => canConnect('127.0.0.1', port, 500);

async function startAndWait(
  name: string,
  binary: string,
  args: (port: number) => string[],
  dataDir: string,
  describe: (port: number) => string,
  fixedPort: number | undefined,
  marker: readonly string[],
  owner: DataFolderOwner | undefined,
): Promise<LocalServer> {
  await mkdir(dataDir, { recursive: true });
  const owned: OwnedServerSpec | undefined = owner && {
    server: name,
    binary,
    dataDir,
    marker,
    answers,
    log: owner.log,
  };
  if (owned) {
    const adopted = await claimDataFolder(owned);
    if (adopted) {
      return {
        url: `mongodb://127.0.0.1:${adopted.port}`,
        description: `${describe(adopted.port)} (data in ${dataDir}, pid ${adopted.pid}, reused)`,
        pid: adopted.pid,
        stop: async () => {
          await stopServerProcess(adopted.pid, 10_000);
          await releaseDataFolder(dataDir);
        },
      };
    }
  }
  const port = fixedPort ?? (await freePort());
  const server = startProcess(binary, args(port), join(dataDir, `${name}.log`));
  try {
    if (owned && server.child.pid !== undefined) await recordServer(owned, server.child.pid, port);
    await waitUntil(
      async () => {
        if (server.exited()) throw new Error(`${name} exited:\n${await server.logTail()}`);
        return answers(port);
      },
      60_000,
      name,
    );
  } catch (error) {
    await server.stop();
    if (owned) await releaseDataFolder(dataDir);
    throw error;
  }
  return {
    url: `mongodb://127.0.0.1:${port}`,
    description: `${describe(port)} (data in ${dataDir}, pid ${server.child.pid})`,
    ...(server.child.pid ? { pid: server.child.pid } : {}),
    stop: async () => {
      await server.stop(10_000);
      if (owned) await releaseDataFolder(dataDir);
    },
  };
}

export async function startMongod(
  binary: string,
  dataDir: string,
  owner?: DataFolderOwner,
): Promise<LocalServer> {
  const dbPath = join(dataDir, 'db');
  await mkdir(dbPath, { recursive: true });
  return startAndWait(
    'mongod',
    binary,
    (port) => ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dbPath, '--quiet'],
    dataDir,
    (port) => `mongod ${binary} on 127.0.0.1:${port}`,
    undefined,
    ['--dbpath', dbPath],
    owner,
  );
}

/**
 * FerretDB with its embedded SQLite backend: every database is a SQLite file under dataDir/sqlite. A port may be
 * given to restart a server where it was. With an owner, the folder is owned as startRedisServer's is: one
 * FerretDB per SQLite folder, ever.
 */
export async function startFerretDb(
  binary: string,
  dataDir: string,
  fixedPort?: number,
  owner?: DataFolderOwner,
): Promise<LocalServer> {
  const sqliteDir = join(dataDir, 'sqlite');
  const stateDir = join(dataDir, 'state');
  await mkdir(sqliteDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const sqliteUrl = `--sqlite-url=file:${sqliteDir}/`;
  return startAndWait(
    'ferretdb',
    binary,
    (port) => [
      '--handler=sqlite',
      sqliteUrl,
      `--state-dir=${stateDir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=127.0.0.1:0',
      '--telemetry=disable',
      '--log-level=warn',
    ],
    dataDir,
    (port) => `FerretDB 1.24 (SQLite backend) ${binary} on 127.0.0.1:${port}`,
    fixedPort,
    [sqliteUrl],
    owner,
  );
}
