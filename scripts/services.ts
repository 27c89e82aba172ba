/**
 * `npm run services`: starts the local MongoDB-compatible and Redis servers in the foreground, prints their
 * MONGO_URL= and REDIS_URL= lines on stdout, and stops them on SIGINT or SIGTERM.
 */
import { resolve } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { exitWithError, loadConfigOrExit, onShutdownSignal } from '@imgsvc/lifecycle';
import { startLocalServices } from '@imgsvc/local-services';
import { pino } from 'pino';

const config = loadConfigOrExit();
// Logs go to stderr so that stdout holds only the two lines a shell can evaluate.
const log = pino({ level: config.logLevel, base: { service: 'services' } }, pino.destination(2));
try {
  const services = await startLocalServices({
    mongoUrl: config.mongoUrl,
    redisUrl: config.redisUrl,
    dataDir: resolve('data'),
    persistent: true,
    machine: readMachineEnvironment(),
    log: (message) => log.info(message),
  });
  log.info({ mongo: services.mongo, redis: services.redis }, 'servers ready; Ctrl-C stops them');
  process.stdout.write(`MONGO_URL=${services.mongoUrl}\nREDIS_URL=${services.redisUrl}\n`);
  onShutdownSignal(() => services.stop(), log);
} catch (error) {
  exitWithError(error instanceof Error ? error.message : String(error));
}
