import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Security headers on every answer, and CORS for the browser origins the configuration names (none by default). */
export const httpSecurity = fp(async (app: FastifyInstance, options: { corsOrigins: readonly string[] }) => {
  // The interactive reference at /docs sets its own, looser policy for its page.
  await app.register(helmet, { global: true });
  await app.register(cors, {
    origin: options.corsOrigins.length > 0 ? [...options.corsOrigins] : false,
    methods: ['GET', 'POST'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'Location', 'Idempotent-Replayed'],
    maxAge: 600,
  });
});
