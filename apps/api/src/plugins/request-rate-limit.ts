import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { HttpProblem } from '../problem.js';

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
      new HttpProblem(
        429,
        'rate_limited',
        'Too many requests',
        `at most ${context.max} requests per ${Math.round(options.windowMs / 1000)} s; retry in ${Math.ceil(context.ttl / 1000)} s`,
        {},
        { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
      ),
  });
});
