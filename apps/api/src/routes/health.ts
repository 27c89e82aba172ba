import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { liveness, readiness } from '../schemas.js';

const READY_TIMEOUT_MS = 2000;

async function check(probe: () => Promise<unknown>): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
          READY_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.message : 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

export async function healthRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/health/live',
    {
      config: { access: 'public', rateLimit: false },
      schema: { tags: ['operations'], summary: 'The process is up', response: { 200: liveness } },
    },
    async () => ({ status: 'ok' as const }),
  );
  typed.get(
    '/health/ready',
    {
      config: { access: 'public', rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'MongoDB and Redis are reachable',
        description: `Each checked with a ${READY_TIMEOUT_MS} ms deadline; 503 when either is not.`,
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const [mongodb, redis] = await Promise.all([
        check(() => context.db.ping(READY_TIMEOUT_MS)),
        check(() => context.redis.ping()),
      ]);
      const ready = mongodb === 'ok' && redis === 'ok';
      return reply
        .code(ready ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: ready ? 'ok' : 'unavailable', checks: { mongodb, redis } });
    },
  );
}
