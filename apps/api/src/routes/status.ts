import { isFinished } from '@imgsvc/domain';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { statusView } from '../request-view.js';
import { problemResponses, requestIdParams, requestStatus } from '../schemas.js';
import { findOwnedRequest, liveProgress } from './owned-request.js';

export async function statusRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/status/:requestId',
    {
      config: { access: 'tenant' },
      schema: {
        operationId: 'getRequestStatus',
        tags: ['requests'],
        summary: 'Status and progress of a request',
        description:
          '`completion_percentage` only rises and is 100 exactly when the request is finished (`completed` or `failed`).',
        params: requestIdParams,
        response: { 200: requestStatus, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const found = await findOwnedRequest(context, request, request.params.requestId, 'cache');
      const live = isFinished(found.status) ? undefined : await liveProgress(context, found._id);
      return reply
        .header('cache-control', 'no-store')
        .send(statusView(found, context.config.publicBaseUrl, live));
    },
  );
}
