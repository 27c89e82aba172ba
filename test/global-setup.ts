import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { startLocalServices } from '@imgsvc/local-services';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
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
  const services = await startLocalServices({
    dataDir,
    persistent: false,
    useRunningRedis: false,
    redisDatabases: TEST_REDIS_DATABASES,
    machine,
    log: (message) => process.stderr.write(`[services] ${message}\n`),
  });
  process.stderr.write(`[services] MongoDB: ${services.mongo}\n[services] Redis: ${services.redis}\n`);
  project.provide('mongoUrl', services.mongoUrl);
  project.provide('redisUrl', services.redisUrl);
  return async () => {
    await services.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
