import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** One JSON line per event; `service` tells the API's lines from the worker's when both run in one process. */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
