import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { problems } from '../problems.js';

const RETRY_AFTER_SECONDS = 5;
/** The sampler's period: half the limit, so that a lag past it is seen within one period of its start… */
const SAMPLE_FRACTION = 0.5;
/** …but never more often than this (a tight limit) nor less often than that (a loose one). */
const MIN_SAMPLE_MS = 10;
const MAX_SAMPLE_MS = 500;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** False for routes answered even while the API sheds load (health checks: a busy API is not a dead one). */
    shedLoad?: boolean;
  }
}

/**
 * How late the event loop runs, from one timer: each tick measures how much later than planned it ran, and
 * the latest measure stands until the next tick. With the default limit (1 s) the process is woken twice a
 * second for it, where a 10 ms histogram (@fastify/under-pressure's) woke it 100 times a second, idle or not.
 */
export function eventLoopLag(limitMs: number): { lagMs(): number; stop(): void } {
  const periodMs = Math.min(MAX_SAMPLE_MS, Math.max(MIN_SAMPLE_MS, limitMs * SAMPLE_FRACTION));
  let lagMs = 0;
  let planned = performance.now() + periodMs;
  const tick = () => {
    const now = performance.now();
    lagMs = Math.max(0, now - planned);
    planned = now + periodMs;
    timer.refresh();
  };
  const timer = setTimeout(tick, periodMs);
  timer.unref();
  return { lagMs: () => lagMs, stop: () => clearTimeout(timer) };
}

/**
 * When the event loop lags past the limit, new requests get 503 with Retry-After instead of waiting; routes
 * that say `shedLoad: false` are answered still, so an orchestrator does not restart a busy, healthy API.
 */
export const loadShedding = fp(async (app: FastifyInstance, options: { maxEventLoopDelayMs: number }) => {
  if (options.maxEventLoopDelayMs === 0) return;
  const lag = eventLoopLag(options.maxEventLoopDelayMs);
  app.addHook('onClose', async () => lag.stop());
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.shedLoad === false) return;
    if (lag.lagMs() > options.maxEventLoopDelayMs) {
      throw problems.overloaded({ retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
  });
});
