import { createAddressPolicy } from '@imgsvc/fetching';
import { type AcceptedUpload, openUpload, UploadRefused } from '@imgsvc/requests';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { idempotencyScopeOf } from '../idempotency.js';
import { type HttpProblem, problems } from '../problems.js';
import { acceptedView } from '../request-view.js';
import { problemResponses, uploadAccepted } from '../schemas.js';
import { readUploadForm, type UploadForm } from '../upload-form.js';
import { UploadSlots } from '../upload-slots.js';

/** When a refused upload may try again: uploads last seconds, and a client retrying sooner only adds load. */
const UPLOAD_RETRY_AFTER_SECONDS = 5;

/** What a refused upload answers; nothing of it was stored. */
function refusalProblem(refusal: UploadRefused): HttpProblem {
  switch (refusal.code) {
    case 'idempotency_key_reused':
      return problems.idempotencyKeyReused();
    case 'idempotency_key_in_use':
      return problems.idempotencyKeyInUse();
    case 'queue_unavailable':
      return problems.serviceUnavailable({ code: 'queue_unavailable', retryAfterSeconds: 5 });
  }
}

export async function uploadRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  // The worker's policy for webhook deliveries, so a URL written as a refused address is refused at once.
  const addressPolicy = createAddressPolicy(context.config.fetch);
  const { concurrency, concurrencyPerKey, slotWaitMs } = context.config.upload;
  const slots = new UploadSlots({ perCaller: concurrencyPerKey, total: concurrency, waitMs: slotWaitMs });
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/upload',
    {
      config: { access: 'tenant' },
      schema: {
        operationId: 'uploadCatalogue',
        tags: ['requests'],
        summary: 'Upload a product CSV',
        description:
          'Answers 202 at once with the request id; the images are processed in the background. The whole file is checked first: any problem is a 4xx listing them (line, column, message), and nothing is stored.',
        consumes: ['multipart/form-data'],
        response: { 202: uploadAccepted, ...problemResponses(400, 401, 409, 413, 415, 422, 429, 503) },
      },
      // After access is granted and before the body is read: each tenant key (without keys, each address, as
      // the rate limit counts) has UPLOAD_CONCURRENCY_PER_KEY uploads in flight at most, the process
      // UPLOAD_CONCURRENCY. A refusal closes the connection, so the refused body is never received.
      preParsing: async (request, reply) => {
        // 'close' comes once the answer is sent or the connection is lost, whichever the upload ends with: it
        // gives up a wait for a slot, or frees the slot taken.
        const gone = new AbortController();
        let release: (() => void) | undefined;
        reply.raw.once('close', () => {
          gone.abort();
          release?.();
        });
        const taken = await slots.take(
          request.owner ? `key:${request.owner}` : `ip:${request.ip}`,
          gone.signal,
        );
        if ('refused' in taken) {
          throw taken.refused === 'per_caller'
            ? problems.tooManyUploads({
                limit: concurrencyPerKey,
                retryAfterSeconds: UPLOAD_RETRY_AFTER_SECONDS,
              })
            : problems.uploadCapacity({ limit: concurrency, retryAfterSeconds: UPLOAD_RETRY_AFTER_SECONDS });
        }
        release = taken.release;
        if (gone.signal.aborted) release();
      },
    },
    async (request, reply) => {
      // The products are stored as the file streams in, never held whole; the request is written and queued
      // once the whole file is valid, and a refused file takes back what was stored.
      const intake = await openUpload(context, {
        owner: request.owner,
        idempotencyScope: idempotencyScopeOf(request),
      });
      let form: UploadForm;
      try {
        form = await readUploadForm(request, context, addressPolicy, (products) => intake.take(products));
      } catch (error) {
        await intake.abandon();
        throw error;
      }
      let accepted: AcceptedUpload;
      try {
        accepted = await intake.accept({
          fingerprint: form.fingerprint,
          columns: form.csv.columns,
          productCount: form.csv.productCount,
          imageCount: form.csv.imageCount,
          webhookUrl: form.webhookUrl ?? context.config.webhook.defaultUrl ?? null,
          warnings: form.csv.warnings,
        });
      } catch (error) {
        if (!(error instanceof UploadRefused)) throw error;
        if (error.code === 'queue_unavailable') {
          request.log.error({ reason: error.message, err: error.cause }, 'could not queue the request');
        }
        throw refusalProblem(error);
      }
      if (!accepted.replayed) {
        request.log.info(
          { request_id: accepted.requestId, products: form.csv.productCount, images: form.csv.imageCount },
          'request accepted',
        );
      }
      const answer = acceptedView(accepted.requestId, accepted.status, context.config.publicBaseUrl);
      if (accepted.replayed) reply.header('idempotent-replayed', 'true');
      return reply
        .code(202)
        .header('location', answer.status_url)
        .send({ ...answer, ...(form.csv.warnings.length > 0 ? { warnings: form.csv.warnings } : {}) });
    },
  );
}
