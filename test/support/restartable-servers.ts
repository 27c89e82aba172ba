import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import {
  findExecutable,
  findFerretDb,
  freePort,
  type LocalServer,
  startFerretDb,
  startRedisServer,
} from '@imgsvc/local-services';

/**
 * A redis-server (with its append-only file, as in production) and a FerretDB that one test file owns, on
 * ports fixed when they are made, so that a test can stop either and bring it back where it was, data and all.
 */
export interface RestartableServers {
  readonly workDir: string;
  readonly redisUrl: string;
  readonly mongoUrl: string;
  startRedis(): Promise<void>;
  stopRedis(): Promise<void>;
  startMongo(): Promise<void>;
  stopMongo(): Promise<void>;
  /** Stops both (those running) and removes their files. */
  close(): Promise<void>;
}

/** Makes the pair; with `started`, both are running when it returns (otherwise the test starts them). */
export async function restartableServers(name: string, started: boolean): Promise<RestartableServers> {
  const machine = readMachineEnvironment();
  const redisBinary = await findExecutable('redis-server', machine.path);
  const ferretBinary = await findFerretDb(machine.path, machine.cacheHome);
  if (!redisBinary) throw new Error('redis-server is not on the PATH');
  if (!ferretBinary) throw new Error('FerretDB is not installed (npm run install:ferretdb)');
  const workDir = await mkdtemp(join(tmpdir(), `image-service-${name}-`));
  const redisPort = await freePort();
  const mongoPort = await freePort();
  let redis: LocalServer | undefined;
  let mongo: LocalServer | undefined;
  const servers: RestartableServers = {
    workDir,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    mongoUrl: `mongodb://127.0.0.1:${mongoPort}`,
    async startRedis() {
      redis ??= await startRedisServer(redisBinary, join(workDir, 'redis'), {
        persistent: true,
        port: redisPort,
      });
    },
    async stopRedis() {
      await redis?.stop();
      redis = undefined;
    },
    async startMongo() {
      mongo ??= await startFerretDb(ferretBinary, join(workDir, 'ferretdb'), mongoPort);
    },
    async stopMongo() {
      await mongo?.stop();
      mongo = undefined;
    },
    async close() {
      await Promise.allSettled([servers.stopRedis(), servers.stopMongo()]);
      await rm(workDir, { recursive: true, force: true });
    },
  };
  if (started) {
    try {
      await servers.startRedis();
      await servers.startMongo();
    } catch (error) {
      await servers.close();
      throw error;
    }
  }
  return servers;
}
