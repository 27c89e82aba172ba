import { isFinished } from '@imgsvc/db';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { statusView } from '../request-view.js';
import { findOwnedRequest, liveProgress, requestIdParams } from './owned-request.js';

export async function statusRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.get<{ Params: { requestId: string } }>(
    '/api/status/:requestId',
    {
      schema: { params: requestIdParams },
    },
    async (request, reply) => {
      const found = await findOwnedRequest(context, request, request.params.requestId);
      const live = isFinished(found) ? undefined : await liveProgress(context, found._id);
      return reply
        .header('cache-control', 'no-store')
        .send(statusView(found, context.config.publicBaseUrl, live));
    },
  );
}
