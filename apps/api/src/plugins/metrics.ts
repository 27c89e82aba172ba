import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of this API process at /metrics: request latency by route and status, and the process.
 * Behind METRICS_TOKEN when it is set; rate limited like every route, so that the token cannot be guessed.
 */
export const apiMetrics = fp(async (app: FastifyInstance) => {
  const registry = new Registry();
  registry.setDefaultLabels({ program: 'api' });
  // Process and Node.js metrics under prom-client's standard names, which the usual Node.js dashboards expect;
  // the service's own are named `imgsvc_…`.
  // The event-loop delay is sampled every 100 ms rather than prom-client's 10 ms: an idle process is woken
  // 10 times a second for it instead of 100 (about 2 ms of CPU a second saved), and a delay worth a metric
  // lasts longer than that.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const latency = new Histogram({
    name: 'imgsvc_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route and status.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route's pattern, not the URL: ids must not become label values.
    const route = request.routeOptions.url ?? 'unmatched';
    latency.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { schema: { hide: true }, config: { access: 'metrics' } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
});
