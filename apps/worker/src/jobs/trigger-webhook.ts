import { findRequest, type RequestDocument, updateWebhookDelivery } from '@imgsvc/db';
import { completionPercentage, countsView, requestLinks } from '@imgsvc/domain';
import { parseJobData, type WebhookEvent, webhookJobData } from '@imgsvc/queue';
import { deliverWebhook, WebhookDeliveryError } from '@imgsvc/webhooks';
import { type Job, UnrecoverableError } from 'bullmq';
import type { WorkerContext } from '../context.js';

/** The same for every attempt of one event, so receivers can drop duplicates. */
function webhookMessageId(requestId: string, event: WebhookEvent): string {
  return `msg_${requestId.replaceAll('-', '')}_${event.replace('request.', '')}`;
}

/** The callback body: built only from fields that no longer change once the request has finished. */
function webhookPayload(request: RequestDocument, event: WebhookEvent, publicBaseUrl: string): string {
  return JSON.stringify({
    type: event,
    timestamp: (request.finished_at ?? request.updated_at).toISOString(),
    data: {
      request_id: request._id,
      status: request.status,
      completion_percentage: completionPercentage(request),
      counts: countsView(request),
      created_at: request.created_at.toISOString(),
      finished_at: request.finished_at?.toISOString() ?? null,
      error_message: request.error_message,
      ...requestLinks(publicBaseUrl, request._id),
    },
  });
}

/** trigger-webhook: one signed delivery attempt; BullMQ retries it with exponential backoff. */
export async function triggerWebhook(job: Job, context: WorkerContext): Promise<string> {
  const { requestId, event } = parseJobData(webhookJobData, job.data, job.name);
  const log = context.log.child({ request_id: requestId, job_id: job.id });
  const request = await findRequest(context.db, requestId);
  if (!request?.webhook) return 'no webhook';
  if (request.webhook.state === 'delivered' && request.webhook.event === event) return 'already delivered';

  const attempt = job.attemptsMade + 1;
  await updateWebhookDelivery(context.db, requestId, { event, attempts: attempt });
  try {
    const status = await deliverWebhook(
      {
        url: request.webhook.url,
        id: webhookMessageId(requestId, event),
        body: webhookPayload(request, event, context.config.publicBaseUrl),
        secret: context.config.webhook.secret,
      },
      {
        dispatcher: context.webhookDispatcher,
        addressPolicy: context.addressPolicy,
        timeoutMs: context.config.webhook.timeoutMs,
      },
    );
    await updateWebhookDelivery(context.db, requestId, {
      state: 'delivered',
      delivered_at: new Date(),
      last_error: null,
    });
    log.info({ event, attempt, status }, 'webhook delivered');
    return `delivered (${status})`;
  } catch (error) {
    const reason = error instanceof WebhookDeliveryError ? error.message : 'delivery failed';
    // The receiver's owner reads last_error; where its name resolved stays in our log.
    await updateWebhookDelivery(context.db, requestId, { last_error: reason });
    const detail = error instanceof WebhookDeliveryError ? error.detail : undefined;
    log.warn({ event, attempt, reason, ...(detail ? { detail } : {}) }, 'webhook attempt failed');
    // No later attempt can reach a blocked address: fail now rather than retry for hours.
    if (error instanceof WebhookDeliveryError && error.final) throw new UnrecoverableError(reason);
    throw error;
  }
}
