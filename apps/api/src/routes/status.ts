import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { statusView } from '../request-view.js';
import { findOwnedRequest, requestIdParams } from './owned-request.js';

export async function statusRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.get<{ Params: { requestId: string } }>(
    '/api/status/:requestId',
    {
      schema: { params: requestIdParams },
    },
    async (request, reply) => {
      const found = await findOwnedRequest(context, request, request.params.requestId);
      return reply.header('cache-control', 'no-store').send(statusView(found, context.config.publicBaseUrl));
    },
  );
}
