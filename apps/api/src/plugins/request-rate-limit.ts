import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { problems } from '../problems.js';

export interface RateLimitOptions {
  readonly max: number;
  readonly windowMs: number;
  readonly redis: Redis;
}

/**
 * RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW_MS for each tenant key, and for each address for every other
 * caller (refused ones included, so keys cannot be guessed at leisure), counted in Redis so that every API
 * process shares one budget. Routes that say `config.rateLimit: false` (health checks) are not limited; if
 * Redis cannot count, requests pass rather than fail.
 */
export const requestRateLimit = fp(async (app: FastifyInstance, options: RateLimitOptions) => {
  await app.register(rateLimit, {
    global: true,
    // Before access is decided, so that refused callers (wrong keys) are counted too, by address.
    hook: 'onRequest',
    max: options.max,
    timeWindow: options.windowMs,
    redis: options.redis,
    nameSpace: 'imgsvc:rate-limit:',
    skipOnError: true,
    keyGenerator: (request: FastifyRequest) => (request.owner ? `key:${request.owner}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      problems.rateLimited({
        max: context.max,
        windowMs: options.windowMs,
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
  });
});
