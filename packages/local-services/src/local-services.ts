import { join, resolve } from 'node:path';
import { type Config, type MachineEnvironment, readMachineEnvironment } from '@imgsvc/config';
import { dockerEngineAnswers, startContainer } from './docker.js';
import { findExecutable } from './executables.js';
import { ensureFerretDb } from './ferretdb-install.js';
import type { LocalServer } from './local-server.js';
import { startFerretDb, startMongod } from './mongo-server.js';
import { redisAnswers, startRedisServer } from './redis-server.js';
import type { DataFolderOwner } from './server-record.js';

export interface LocalServicesOptions {
  /** Connections given by the operator; each one given is used as it is. */
  readonly mongoUrl?: string | undefined;
  readonly redisUrl?: string | undefined;
  /** Where started servers keep their files: ./data for the embedded default, a temporary folder in tests. */
  readonly dataDir: string;
  /** Keep Redis's queue across restarts (the embedded default); tests throw everything away. */
  readonly persistent: boolean;
  /**
   * Use a Redis already answering on 127.0.0.1:6379 when no redis-server can be started. `npm start` does;
   * tests and the benchmark never do, so they cannot touch a developer's own data.
   */
  readonly useRunningRedis?: boolean;
  /** Numbered databases in a Redis started here (16 unless given). */
  readonly redisDatabases?: number;
  readonly machine: MachineEnvironment;
  readonly log: (message: string) => void;
}

export interface LocalServices {
  readonly mongoUrl: string;
  readonly redisUrl: string;
  /** What was used, for the log: "given", or which server was found or started. */
  readonly mongo: string;
  readonly redis: string;
  /** The servers' processes, when they run on this machine (the benchmark reads their CPU time). */
  readonly pids: { readonly mongo?: number; readonly redis?: number };
  /** Stops every server that was started here, and only those. */
  stop(): Promise<void>;
}

const given = (url: string, variable: string): LocalServer => ({
  url,
  description: `${variable} as given`,
  stop: async () => {},
});

/**
 * A persistent data folder (./data for the embedded default) is owned like a database owns its folder: each
 * server started on it is recorded in its server.pid, and a server left by a start that died is reused or
 * stopped before anything new starts, never two servers on one folder. Throwaway folders (tests) need none of it.
 */
const owner = (options: LocalServicesOptions): { owner?: DataFolderOwner } =>
  options.persistent ? { owner: { log: options.log } } : {};

class NoServerError extends Error {
  override name = 'NoServerError';
}

async function findRedis(
  options: LocalServicesOptions,
  docker: () => Promise<boolean>,
): Promise<LocalServer> {
  if (options.redisUrl) return given(options.redisUrl, 'REDIS_URL');
  const binary = await findExecutable('redis-server', options.machine.path);
  if (binary) {
    return startRedisServer(binary, join(options.dataDir, 'redis'), {
      persistent: options.persistent,
      ...owner(options),
      ...(options.redisDatabases === undefined ? {} : { databases: options.redisDatabases }),
    });
  }
  if (options.useRunningRedis && (await redisAnswers('127.0.0.1', 6379))) {
    return {
      url: 'redis://127.0.0.1:6379',
      description: 'the Redis already running on 127.0.0.1:6379',
      stop: async () => {},
    };
  }
  if (await docker()) {
    const databases =
      options.redisDatabases === undefined ? [] : ['--databases', String(options.redisDatabases)];
    const container = await startContainer(
      'redis:7',
      6379,
      'redis',
      databases.length ? ['redis-server', ...databases] : [],
    );
    return { ...container, description: `a redis:7 container at ${container.url}` };
  }
  throw new NoServerError(
    'No Redis: set REDIS_URL, or install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or start Docker.',
  );
}

async function findMongo(
  options: LocalServicesOptions,
  docker: () => Promise<boolean>,
): Promise<LocalServer> {
  if (options.mongoUrl) return given(options.mongoUrl, 'MONGO_URL');
  const mongod = await findExecutable('mongod', options.machine.path);
  if (mongod) return startMongod(mongod, join(options.dataDir, 'mongod'), owner(options).owner);
  if (await docker()) {
    const container = await startContainer('mongo:7', 27017, 'mongodb');
    return { ...container, description: `a mongo:7 container at ${container.url}` };
  }
  const ferretdb = await ensureFerretDb(options.machine.path, options.machine.cacheHome, options.log);
  if (ferretdb) {
    return startFerretDb(ferretdb, join(options.dataDir, 'ferretdb'), undefined, owner(options).owner);
  }
  throw new NoServerError(
    'No MongoDB-compatible server: set MONGO_URL, or install mongod, or start Docker, or install Go 1.21+ (https://go.dev/dl/) so FerretDB 1.24.2 can be built.',
  );
}

/**
 * Finds or starts MongoDB-compatible and Redis servers, in the architecture's order: the URLs given; programs
 * on the PATH (mongod, redis-server); a running Redis on its usual port when allowed; a Docker engine (testcontainers);
 * and for MongoDB, FerretDB on SQLite. Servers started here get free ports and are stopped by stop().
 */
export async function startLocalServices(options: LocalServicesOptions): Promise<LocalServices> {
  let dockerProbe: Promise<boolean> | undefined;
  const docker = () => {
    dockerProbe ??= dockerEngineAnswers(options.machine.dockerHost);
    return dockerProbe;
  };
  const redis = await findRedis(options, docker);
  let mongo: LocalServer;
  try {
    mongo = await findMongo(options, docker);
  } catch (error) {
    await redis.stop();
    throw error;
  }
  return {
    mongoUrl: mongo.url,
    redisUrl: redis.url,
    mongo: mongo.description,
    redis: redis.description,
    pids: { mongo: mongo.pid, redis: redis.pid },
    async stop() {
      await Promise.allSettled([mongo.stop(), redis.stop()]);
    },
  };
}

/**
 * The servers for `npm start` and `npm run services`: the configured URLs, or local servers keeping their data
 * under ./data so that the queue and the database survive a restart.
 */
export function startConfiguredServices(
  config: Pick<Config, 'mongoUrl' | 'redisUrl'>,
  log: (message: string) => void,
): Promise<LocalServices> {
  return startLocalServices({
    mongoUrl: config.mongoUrl,
    redisUrl: config.redisUrl,
    dataDir: resolve('data'),
    persistent: true,
    useRunningRedis: true,
    machine: readMachineEnvironment(),
    log,
  });
}
