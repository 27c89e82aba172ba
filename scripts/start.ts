/**
 * `npm start`: the API and the worker in one process on PORT, with the settings of the environment and of
 * ./.env when it exists (the environment wins). Where MONGO_URL or REDIS_URL is unset it finds or starts
 * local servers (data under ./data) and says which in its log.
 */
import { startApi } from '@imgsvc/api';
import { loadEnvFile, productionRefusal } from '@imgsvc/config';
import { exitWithError, loadConfigOrExit, onShutdownSignal } from '@imgsvc/lifecycle';
import { startConfiguredServices } from '@imgsvc/local-services';
import { createLogger } from '@imgsvc/logging';
import { startWorker } from '@imgsvc/worker';

let envFile: string | undefined;
try {
  envFile = loadEnvFile('.env');
} catch (error) {
  exitWithError(`.env could not be read: ${error instanceof Error ? error.message : String(error)}`);
}
const config = loadConfigOrExit();
const refusal = productionRefusal(config, 'api') ?? productionRefusal(config, 'worker');
if (refusal) exitWithError(refusal);
const log = createLogger('start', config.logLevel);
if (envFile)
  log.info({ file: envFile }, 'settings read from the environment and .env (the environment wins)');
const embedded = !config.mongoUrl || !config.redisUrl;
if (embedded) log.info('MONGO_URL or REDIS_URL unset: finding or starting local servers (data under ./data)');

let services: Awaited<ReturnType<typeof startConfiguredServices>>;
try {
  services = await startConfiguredServices(config, (message) => log.info(message));
} catch (error) {
  exitWithError(error instanceof Error ? error.message : String(error));
}
log.info(
  { mongo: services.mongo, redis: services.redis },
  embedded ? 'using local servers' : 'using servers',
);

try {
  const worker = await startWorker(config, services, createLogger('worker', config.logLevel));
  const api = await startApi(config, services, createLogger('api', config.logLevel));
  onShutdownSignal(async () => {
    await api.close();
    await worker.close();
    await services.stop();
  }, log);
} catch (error) {
  log.fatal({ err: error }, 'could not start');
  await services.stop();
  process.exit(1);
}
