import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { Logger } from '@imgsvc/logging';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { connectionLimits } from './connection-limits.js';
import type { ApiContext } from './context.js';
import { refuseWhileClosing } from './plugins/closing.js';
import { httpSecurity } from './plugins/http-security.js';
import { loadShedding } from './plugins/load-shedding.js';
import { apiMetrics } from './plugins/metrics.js';
import { openApi } from './plugins/openapi.js';
import { notFound, problemDetails } from './plugins/problem-details.js';
import { queueDashboard } from './plugins/queue-dashboard.js';
import { requestRateLimit } from './plugins/request-rate-limit.js';
import { routeAccess } from './plugins/route-access.js';
import { RequestCache } from './request-cache.js';
import { deleteRequestRoutes } from './routes/delete-request.js';
import { downloadRoutes } from './routes/download.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/images.js';
import { landingRoutes } from './routes/landing.js';
import { productRoutes } from './routes/products.js';
import { retryRequestRoutes } from './routes/retry-request.js';
import { statusRoutes } from './routes/status.js';
import { uploadRoutes } from './routes/upload.js';
import { uploadPageRoutes } from './routes/upload-page.js';

/**
 * The API, as Fastify's reference app lays one out: external plugins first (security headers, CORS, load
 * shedding, rate limits, metrics, docs), then the application's routes grouped by path. Every route declares
 * who may call it (plugins/route-access.ts). Tests build it the same way the program does.
 */
export async function buildApp(
  connections: Omit<ApiContext, 'requestCache'>,
  log: Logger,
): Promise<FastifyInstance> {
  const context: ApiContext = {
    ...connections,
    requestCache: new RequestCache(connections.db, {
      finishedTtlMs: 2000,
      runningTtlMs: 250,
      maxEntries: 10_000,
    }),
  };
  const { config } = context;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    // A client's own request id is kept (if it is sane), so its logs and ours can be joined.
    genReqId: () => randomUUID(),
    // A problem+json 503 instead (see plugins/closing.ts).
    return503OnClosing: false,
    ...connectionLimits(config.clients),
  });
  app.addHook('onRequest', async (request) => {
    if (!/^[\w.:-]{1,128}$/.test(request.id)) (request as { id: string }).id = randomUUID();
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Answered before the body was all received (a refusal): the connection is closed rather than kept to
    // read, and throw away, the rest of a body that may be large or sent slowly.
    if (request.raw.complete === false) reply.header('connection', 'close');
  });

  // First, so that it sees every route the others add.
  await app.register(routeAccess, {
    apiKeys: config.apiKeys,
    adminKeys: config.adminKeys,
    adminDashboardWrite: config.adminDashboardWrite,
    metricsToken: config.metricsToken,
    // In production an unguarded /metrics is off rather than open to anyone who can reach the API.
    metricsOffWithoutToken: config.nodeEnv === 'production',
  });
  await app.register(problemDetails);
  await app.register(refuseWhileClosing);
  await app.register(httpSecurity, { corsOrigins: config.corsOrigins, publicBaseUrl: config.publicBaseUrl });
  await app.register(loadShedding, { maxEventLoopDelayMs: config.maxEventLoopDelayMs });
  // Before any route, so that each one is limited unless it says otherwise (health checks do).
  await app.register(requestRateLimit, {
    max: config.rateLimit.max,
    windowMs: config.rateLimit.windowMs,
    redis: context.redis,
  });
  await app.register(apiMetrics);
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, notFound);
  await app.register(openApi, { publicBaseUrl: config.publicBaseUrl, withKeys: config.apiKeys.length > 0 });
  await app.register(multipart, { throwFileSizeLimit: true });
  await app.register(async (scope) => landingRoutes(scope, context));
  await app.register(async (scope) => uploadPageRoutes(scope, context));

  // The application's routes validate and serialise with zod; the dashboard keeps Fastify's own compilers.
  await app.register(async (routes) => {
    routes.setValidatorCompiler(validatorCompiler);
    routes.setSerializerCompiler(serializerCompiler);
    await routes.register(async (scope) => uploadRoutes(scope, context));
    await routes.register(async (scope) => statusRoutes(scope, context));
    await routes.register(async (scope) => eventRoutes(scope, context));
    await routes.register(async (scope) => downloadRoutes(scope, context));
    await routes.register(async (scope) => productRoutes(scope, context));
    await routes.register(async (scope) => deleteRequestRoutes(scope, context));
    await routes.register(async (scope) => retryRequestRoutes(scope, context));
    await routes.register(async (scope) => imageRoutes(scope, context));
    await routes.register(async (scope) => healthRoutes(scope, context));
  });
  // Operators only: without ADMIN_KEYS there is no dashboard at all.
  if (config.adminKeys.length > 0) {
    await app.register(async (scope) =>
      queueDashboard(scope, {
        queues: context.queues,
        apiKeys: config.apiKeys,
        writable: config.adminDashboardWrite,
      }),
    );
  }
  return app;
}
