import { checkReadiness, isReady, READY_TIMEOUT_MS } from '@imgsvc/lifecycle';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { liveness, problemResponses, readiness } from '../schemas.js';

export async function healthRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/health/live',
    {
      config: { access: 'public', rateLimit: false, shedLoad: false },
      schema: {
        operationId: 'getLiveness',
        tags: ['operations'],
        summary: 'The process is up',
        response: { 200: liveness },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  typed.get(
    '/health/ready',
    {
      config: { access: 'public', rateLimit: false, shedLoad: false },
      schema: {
        operationId: 'getReadiness',
        tags: ['operations'],
        summary: 'MongoDB and Redis are reachable, and the storage can take images',
        description: `Each checked with a ${READY_TIMEOUT_MS} ms deadline; the storage under STORAGE_DIR must be writable with at least STORAGE_MIN_FREE_BYTES free. 503 \`not_ready\` (a problem with \`checks\`) when any is not.`,
        response: { 200: readiness, ...problemResponses(503) },
      },
    },
    async (_request, reply) => {
      const checks = await checkReadiness(context);
      reply.header('cache-control', 'no-store');
      if (isReady(checks)) return { status: 'ok' as const, checks };
      throw problems.notReady({ checks });
    },
  );
}
