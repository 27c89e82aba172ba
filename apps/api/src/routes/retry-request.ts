import { createAddressPolicy } from '@imgsvc/fetching';
import { retryRequest } from '@imgsvc/requests';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { acceptedView } from '../request-view.js';
import { problemResponses, requestIdParams, retryAccepted, retryBody } from '../schemas.js';
import { checkWebhookUrl } from '../webhook-url.js';
import { findOwnedFinishedRequest, findOwnedRequest } from './owned-request.js';

/**
 * A second chance for what failed: the owner of a finished request makes a new one holding only its products
 * with failed images, each with only those URLs (outputs stored meanwhile, and answers the hosts gave, are
 * found by the usual caches, so what succeeded before costs nothing).
 */
export async function retryRequestRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const addressPolicy = createAddressPolicy(context.config.fetch);
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/requests/:requestId/retry',
    {
      config: { access: 'tenant' },
      // Whose request it is is decided before the body is looked at: to anyone else it does not exist.
      preValidation: async (request) => {
        await findOwnedRequest(context, request, (request.params as { requestId: string }).requestId);
      },
      schema: {
        operationId: 'retryRequest',
        tags: ['requests'],
        summary: 'Retry the failed images of a finished request',
        description:
          "A new request (new id, same owner, the original's webhook unless `webhook_url` names another) holding only the products whose images did not all succeed, each with only its failed URLs. The status of each names the other (`retry_of`, `retried_by`). A request is retried once (409 `already_retried`, with `retried_by`; retry that one next); one without failures answers 409 `nothing_to_retry`; one still running 409 `not_finished`.",
        params: requestIdParams,
        body: retryBody,
        response: { 202: retryAccepted, ...problemResponses(400, 401, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const original = await findOwnedFinishedRequest(
        context,
        request,
        request.params.requestId,
        'it can be retried',
      );
      const given = request.body?.webhook_url?.trim();
      const webhookUrl = given ? checkWebhookUrl(given, addressPolicy) : (original.webhook?.url ?? null);
      const outcome = await retryRequest(context, original, webhookUrl);
      // Its status names the retry from now on (other API processes' copies within 2 s).
      context.requestCache.forget(original._id);
      if (!outcome.retried) {
        if (outcome.reason === 'nothing_failed') throw problems.nothingToRetry({ id: original._id });
        throw problems.alreadyRetried({ id: original._id, retriedBy: outcome.retriedBy });
      }
      const { accepted } = outcome;
      request.log.info(
        {
          request_id: accepted.requestId,
          retry_of: original._id,
          products: outcome.products,
          images: outcome.images,
        },
        'retry accepted',
      );
      const answer = acceptedView(accepted.requestId, accepted.status, context.config.publicBaseUrl);
      return reply
        .code(202)
        .header('location', answer.status_url)
        .send({ ...answer, retry_of: original._id, products: outcome.products, images: outcome.images });
    },
  );
}
