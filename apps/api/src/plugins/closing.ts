import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { problems } from '../problems.js';

/**
 * Once the API has begun to close, a request that still reaches it (pipelined on a connection in use) gets
 * 503 `shutting_down` in the one problem shape and its connection closed, so the client retries elsewhere.
 * It replaces Fastify's own 503 (`return503OnClosing`), whose body is not a problem.
 */
export const refuseWhileClosing = fp(async (app: FastifyInstance) => {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw problems.shuttingDown();
  });
});
