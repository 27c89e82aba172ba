import { productionRefusal } from '@imgsvc/config';
import { exitWithError, loadConfigOrExit, onShutdownSignal } from '@imgsvc/lifecycle';
import { createLogger } from '@imgsvc/logging';
import { startWorker } from './worker.js';

const config = loadConfigOrExit();
if (!config.mongoUrl || !config.redisUrl) {
  exitWithError(
    'start:worker needs MONGO_URL and REDIS_URL. Start local servers with `npm run services` and export the lines it prints, or use `npm start` to run everything at once.',
  );
}
const refusal = productionRefusal(config, 'worker');
if (refusal) exitWithError(refusal);
const log = createLogger('worker', config.logLevel);
log.info({ mongo: 'MONGO_URL as given', redis: 'REDIS_URL as given' }, 'using servers');
try {
  const worker = await startWorker(config, { mongoUrl: config.mongoUrl, redisUrl: config.redisUrl }, log);
  onShutdownSignal(() => worker.close(), log);
} catch (error) {
  log.fatal({ err: error }, 'could not start');
  exitWithError(`start:worker could not start: ${error instanceof Error ? error.message : String(error)}`);
}
