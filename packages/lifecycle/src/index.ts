import { type Config, ConfigError, loadConfig } from '@imgsvc/config';
import type { Logger } from '@imgsvc/logging';

/** Reads the configuration, or prints the one line that says what is wrong and exits with status 1. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** Stops the program with a one-line reason on stderr and status 1. */
export function exitWithError(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * On SIGINT or SIGTERM, runs the shutdown once and exits 0, or 1 if it fails or outlasts the grace period.
 * A second signal exits at once.
 */
export function onShutdownSignal(shutdown: () => Promise<void>, log: Logger, graceMs = 30_000): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ grace_ms: graceMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    shutdown().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
export {
  checkReadiness,
  describeUnreadiness,
  isReady,
  READY_TIMEOUT_MS,
  type ReadinessChecks,
  type ReadinessProbes,
} from './readiness.js';
export { probeReadiness, readinessUrl } from './readiness-probe.js';
