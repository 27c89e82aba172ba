import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { problems } from '../problems.js';

const RETRY_AFTER_SECONDS = 5;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** False for routes answered even while the API sheds load (health checks: a busy API is not a dead one). */
    shedLoad?: boolean;
  }
}

/**
 * When the event loop lags past the limit, new requests get 503 with Retry-After instead of waiting; routes
 * that say `shedLoad: false` are answered still, so an orchestrator does not restart a busy, healthy API.
 */
export const loadShedding = fp(async (app: FastifyInstance, options: { maxEventLoopDelayMs: number }) => {
  if (options.maxEventLoopDelayMs === 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    sampleInterval: 100,
    retryAfter: RETRY_AFTER_SECONDS,
    pressureHandler: (request) => {
      if (request.routeOptions.config.shedLoad === false) return undefined;
      throw problems.overloaded({ retryAfterSeconds: RETRY_AFTER_SECONDS });
    },
  });
});
