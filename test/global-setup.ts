import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MachineEnvironment, readMachineEnvironment } from '@imgsvc/config';
import { ensureSeaweedFs, startLocalServices, startSeaweedFs } from '@imgsvc/local-services';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
    /** The run's S3-compatible server (SeaweedFS): each test file makes buckets of its own on it. */
    objectStore: {
      endpoint: string;
      region: string;
      accessKeyId: string;
      secretAccessKey: string;
      binary: string;
    };
  }
}

/** Redis databases in the run's own server: one per test file that asks (see test/support/servers.ts). */
const TEST_REDIS_DATABASES = 1024;

/**
 * Starts the servers the tests talk to, through the same module `npm start` uses, in a temporary folder that
 * is removed afterwards. The run always owns them: MONGO_URL and REDIS_URL, and a Redis already answering on
 * 6379, are left alone, so a developer's own data is never touched.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'image-service-test-'));
  const machine = readMachineEnvironment();
  const log = (message: string) => process.stderr.write(`[services] ${message}\n`);
  const [services, objectStore] = await Promise.allSettled([
    startLocalServices({
      dataDir,
      persistent: false,
      useRunningRedis: false,
      redisDatabases: TEST_REDIS_DATABASES,
      machine,
      log,
    }),
    startObjectStore(join(dataDir, 'seaweedfs'), machine, log),
  ]);
  if (services.status === 'rejected' || objectStore.status === 'rejected') {
    if (services.status === 'fulfilled') await services.value.stop();
    if (objectStore.status === 'fulfilled') await objectStore.value.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw services.status === 'rejected' ? services.reason : (objectStore as PromiseRejectedResult).reason;
  }
  const { value: running } = services;
  const { value: store } = objectStore;
  log(`MongoDB: ${running.mongo}`);
  log(`Redis: ${running.redis}`);
  log(`S3: ${store.description}`);
  project.provide('mongoUrl', running.mongoUrl);
  project.provide('redisUrl', running.redisUrl);
  project.provide('objectStore', {
    endpoint: store.endpoint,
    region: store.region,
    accessKeyId: store.accessKeyId,
    secretAccessKey: store.secretAccessKey,
    binary: store.binary,
  });
  return async () => {
    await Promise.allSettled([running.stop(), store.stop()]);
    await rm(dataDir, { recursive: true, force: true });
  };
}

/** SeaweedFS for the run, built once per machine first when it is missing (as FerretDB is). */
async function startObjectStore(
  dataDir: string,
  machine: MachineEnvironment,
  log: (message: string) => void,
) {
  const binary = await ensureSeaweedFs(machine.path, machine.cacheHome, log);
  if (!binary) {
    throw new Error(
      'No SeaweedFS for the object-store tests: install Go 1.24+ (https://go.dev/dl/) and run npm run install:seaweedfs',
    );
  }
  return { ...(await startSeaweedFs(binary, dataDir)), binary };
}
