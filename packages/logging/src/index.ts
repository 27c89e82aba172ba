import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * One JSON line per event; `service` tells the API's lines from the worker's when both run in one process.
 * Logs go to stdout unless `stream` says 'stderr' (for programs whose stdout is meant for a shell).
 */
export function createLogger(service: string, level: string, stream: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination(stream === 'stdout' ? 1 : 2),
  );
}
