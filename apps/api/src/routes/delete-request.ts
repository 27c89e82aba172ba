import { markRequestDeleted } from '@imgsvc/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { problemResponses, requestDeleted, requestIdParams } from '../schemas.js';
import { findOwnedFinishedRequest } from './owned-request.js';

/**
 * Deleting a request: its owner's call. The request is gone for every reader at once; the worker's sweep
 * removes its products and results, and the outputs no other request lists (see removeDeletedRequests).
 */
export async function deleteRequestRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().delete(
    '/api/requests/:requestId',
    {
      config: { access: 'tenant' },
      schema: {
        operationId: 'deleteRequest',
        tags: ['requests'],
        summary: 'Delete a finished request, its products and its outputs',
        description:
          "Only the request's owner may. From the answer on, its status, result and products are 404; the worker removes its products, results and every output no other request lists within a minute or two (outputs are shared by content: one another request lists stays). A request still running answers 409 `not_finished`.",
        params: requestIdParams,
        response: { 202: requestDeleted, ...problemResponses(400, 401, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const found = await findOwnedFinishedRequest(
        context,
        request,
        request.params.requestId,
        'it can be deleted',
      );
      const now = new Date();
      // Another call may have deleted it since it was read: then it is gone, as for any later call.
      if (!(await markRequestDeleted(context.db, found._id, now)))
        throw problems.requestNotFound({ id: found._id });
      context.requestCache.forget(found._id);
      return reply.code(202).send({ request_id: found._id, deleted_at: now.toISOString() });
    },
  );
}
