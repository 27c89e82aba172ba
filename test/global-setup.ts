import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, readMachineEnvironment } from '@imgsvc/config';
import { startLocalServices } from '@imgsvc/local-services';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
  }
}

/**
 * Finds or starts the servers the tests talk to, through the same module `npm start` uses, in a temporary
 * folder that is removed afterwards. MONGO_URL and REDIS_URL given to the test run are used as they are.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'image-service-test-'));
  const machine = readMachineEnvironment();
  const config = loadConfig();
  const services = await startLocalServices({
    mongoUrl: config.mongoUrl,
    redisUrl: config.redisUrl,
    dataDir,
    persistent: false,
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
