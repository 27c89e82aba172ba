import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import { registerWithAccess } from './route-access.js';

/**
 * The headers helmet's defaults set, worked out once: helmet's own middleware (and @fastify/helmet, which
 * builds it again for every request) would redo the same work on every answer.
 */
function securityHeaders(): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader() {},
  };
  helmet()({} as never, response as never, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}

/** Security headers on every answer, and CORS for the browser origins the configuration names (none by default). */
export const httpSecurity = fp(async (app: FastifyInstance, options: { corsOrigins: readonly string[] }) => {
  // The interactive reference at /docs sets its own, looser policy for its page; /images relaxes CORP.
  const headers = securityHeaders();
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(headers);
  });
  // Its one route answers CORS preflights, which carry no credentials by design.
  await registerWithAccess(
    app,
    () => 'public',
    () =>
      app.register(cors, {
        origin: options.corsOrigins.length > 0 ? [...options.corsOrigins] : false,
        methods: ['GET', 'POST'],
        allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
        exposedHeaders: ['X-Request-Id', 'Retry-After', 'Location', 'Idempotent-Replayed'],
        maxAge: 600,
      }),
  );
});
