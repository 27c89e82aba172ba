import { randomUUID } from 'node:crypto';
import {
  claimIdempotencyKey,
  deleteRequest,
  findIdempotencyClaim,
  findRequest,
  type IdempotencyDocument,
  insertRequestWithProducts,
  releaseIdempotencyClaim,
} from '@imgsvc/db';
import { requestLinks } from '@imgsvc/domain';
import { createAddressPolicy } from '@imgsvc/fetching';
import { enqueueProcessImages } from '@imgsvc/queue';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { idempotencyScope } from '../idempotency.js';
import { problems } from '../problems.js';
import { problemResponses, uploadAccepted } from '../schemas.js';
import { readUploadForm } from '../upload-form.js';

/** The answer an earlier upload with the same Idempotency-Key got, or why this one cannot have it. */
async function replay(
  context: ApiContext,
  reply: FastifyReply,
  claim: IdempotencyDocument,
  fingerprint: string,
): Promise<FastifyReply> {
  if (claim.fingerprint !== fingerprint) {
    throw problems.idempotencyKeyReused();
  }
  const original = await findRequest(context.db, claim.request_id);
  if (!original) {
    throw problems.idempotencyKeyInUse();
  }
  const links = requestLinks(context.config.publicBaseUrl, original._id);
  return reply
    .code(202)
    .header('location', links.status_url)
    .header('idempotent-replayed', 'true')
    .send({ request_id: original._id, status: original.status, ...links });
}

export async function uploadRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  // The worker's policy for webhook deliveries, so a URL written as a refused address is refused at once.
  const addressPolicy = createAddressPolicy(context.config.fetch);
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/upload',
    {
      config: { access: 'tenant' },
      schema: {
        tags: ['requests'],
        summary: 'Upload a product CSV',
        description:
          'Answers 202 at once with the request id; the images are processed in the background. The whole file is checked first: any problem is a 4xx listing them (line, column, message), and nothing is stored.',
        consumes: ['multipart/form-data'],
        response: { 202: uploadAccepted, ...problemResponses(400, 401, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const scope = idempotencyScope(request);
      const form = await readUploadForm(request, context, addressPolicy);
      if (scope) {
        const earlier = await findIdempotencyClaim(context.db, scope);
        if (earlier) return replay(context, reply, earlier, form.fingerprint);
      }

      const id = randomUUID();
      await insertRequestWithProducts(context.db, {
        id,
        owner: request.owner,
        columns: form.csv.columns,
        products: form.csv.products,
        imageCount: form.csv.imageCount,
        webhookUrl: form.webhookUrl ?? context.config.webhook.defaultUrl ?? null,
      });
      if (scope) {
        const claim = await claimIdempotencyKey(context.db, {
          scope,
          requestId: id,
          fingerprint: form.fingerprint,
        });
        if (claim !== 'claimed') {
          // Another upload with this key won the race: ours is withdrawn and the winner's answer given.
          await deleteRequest(context.db, id);
          return replay(context, reply, claim, form.fingerprint);
        }
      }
      try {
        await enqueueProcessImages(context.queues, id);
      } catch (error) {
        // Without its job the request would wait forever: take it back and say so.
        await deleteRequest(context.db, id).catch(() => {});
        if (scope) await releaseIdempotencyClaim(context.db, scope, id).catch(() => {});
        request.log.error({ err: error, request_id: id }, 'could not queue the request');
        throw problems.serviceUnavailable({ code: 'queue_unavailable', retryAfterSeconds: 5 });
      }
      request.log.info(
        { request_id: id, products: form.csv.products.length, images: form.csv.imageCount },
        'request accepted',
      );
      const links = requestLinks(context.config.publicBaseUrl, id);
      return reply
        .code(202)
        .header('location', links.status_url)
        .send({ request_id: id, status: 'pending', ...links });
    },
  );
}
