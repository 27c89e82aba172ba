import { productionRefusal } from '@imgsvc/config';
import { exitWithError, loadConfigOrExit, onShutdownSignal } from '@imgsvc/lifecycle';
import { createLogger } from '@imgsvc/logging';
import { startApi } from './server.js';

const config = loadConfigOrExit();
if (!config.mongoUrl || !config.redisUrl) {
  exitWithError(
    'start:api needs MONGO_URL and REDIS_URL. Start local servers with `npm run services` and export the lines it prints, or use `npm start` to run everything at once.',
  );
}
const refusal = productionRefusal(config, 'api');
if (refusal) exitWithError(refusal);
const log = createLogger('api', config.logLevel);
log.info({ mongo: 'MONGO_URL as given', redis: 'REDIS_URL as given' }, 'using servers');
try {
  const api = await startApi(config, { mongoUrl: config.mongoUrl, redisUrl: config.redisUrl }, log);
  onShutdownSignal(() => api.close(), log);
} catch (error) {
  log.fatal({ err: error }, 'could not start');
  exitWithError(`start:api could not start: ${error instanceof Error ? error.message : String(error)}`);
}
