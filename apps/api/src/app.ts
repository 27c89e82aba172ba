import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { Logger } from '@imgsvc/logging';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { apiKeys } from './plugins/api-keys.js';
import { problemDetails } from './plugins/problem-details.js';
import { downloadRoutes } from './routes/download.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/images.js';
import { statusRoutes } from './routes/status.js';
import { uploadRoutes } from './routes/upload.js';

/** The API: plugins first, then routes grouped by path. Tests build it the same way the program does. */
export async function buildApp(context: ApiContext, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
  });
  await app.register(problemDetails);
  await app.register(multipart, { throwFileSizeLimit: true });
  await app.register(apiKeys, { keys: context.config.apiKeys });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(async (scope) => uploadRoutes(scope, context));
  await app.register(async (scope) => statusRoutes(scope, context));
  await app.register(async (scope) => downloadRoutes(scope, context));
  await app.register(async (scope) => imageRoutes(scope, context));
  await app.register(async (scope) => healthRoutes(scope, context));
  return app;
}
