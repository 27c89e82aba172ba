import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem } from '../problem.js';

/** When the event loop lags past the limit, new requests get 503 with Retry-After instead of waiting. */
export const loadShedding = fp(async (app: FastifyInstance, options: { maxEventLoopDelayMs: number }) => {
  if (options.maxEventLoopDelayMs === 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    sampleInterval: 100,
    retryAfter: 5,
    pressureHandler: () => {
      throw new HttpProblem(
        503,
        'overloaded',
        'Service overloaded',
        'the server is too busy to answer now; try again shortly',
        {},
        { 'retry-after': '5' },
      );
    },
  });
});
