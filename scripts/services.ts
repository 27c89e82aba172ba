/**
 * `npm run services`: starts the local MongoDB-compatible and Redis servers in the foreground, prints their
 * MONGO_URL= and REDIS_URL= lines on stdout, and stops them on SIGINT or SIGTERM.
 */
import { exitWithError, loadConfigOrExit, onShutdownSignal } from '@imgsvc/lifecycle';
import { startConfiguredServices } from '@imgsvc/local-services';
import { createLogger } from '@imgsvc/logging';

const config = loadConfigOrExit();
// Logs go to stderr so that stdout holds only the two lines a shell can evaluate.
const log = createLogger('services', config.logLevel, 'stderr');
try {
  const services = await startConfiguredServices(config, (message) => log.info(message));
  log.info({ mongo: services.mongo, redis: services.redis }, 'servers ready; Ctrl-C stops them');
  process.stdout.write(`MONGO_URL=${services.mongoUrl}\nREDIS_URL=${services.redisUrl}\n`);
  // Runs until a signal even when it reused servers left by a start that died (no child process of its own
  // then keeps it alive).
  setInterval(() => {}, 2 ** 30);
  onShutdownSignal(() => services.stop(), log);
} catch (error) {
  exitWithError(error instanceof Error ? error.message : String(error));
}
