import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { problems } from '../problems.js';

const RETRY_AFTER_SECONDS = 5;

/** When the event loop lags past the limit, new requests get 503 with Retry-After instead of waiting. */
export const loadShedding = fp(async (app: FastifyInstance, options: { maxEventLoopDelayMs: number }) => {
  if (options.maxEventLoopDelayMs === 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    sampleInterval: 100,
    retryAfter: RETRY_AFTER_SECONDS,
    pressureHandler: () => {
      throw problems.overloaded({ retryAfterSeconds: RETRY_AFTER_SECONDS });
    },
  });
});
