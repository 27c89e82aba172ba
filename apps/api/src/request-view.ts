import type { RequestDocument } from '@imgsvc/db';
import { completionPercentage, countsView, type RequestCounts, requestLinks } from '@imgsvc/domain';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isRequestId(value: string): boolean {
  return UUID_V4.test(value);
}

/** The status a client polls: progress, counts and webhook delivery, in snake_case. */
export function statusView(
  request: RequestDocument,
  baseUrl: string,
  live?: RequestCounts & { readonly updated_at: Date | undefined },
) {
  const updatedAt =
    live?.updated_at && live.updated_at > request.updated_at && !request.finished_at
      ? live.updated_at
      : request.updated_at;
  return {
    request_id: request._id,
    status: request.status,
    completion_percentage: completionPercentage(request, live),
    created_at: request.created_at.toISOString(),
    updated_at: updatedAt.toISOString(),
    ...(request.finished_at ? { finished_at: request.finished_at.toISOString() } : {}),
    counts: countsView(request, live),
    ...(request.webhook
      ? {
          webhook: {
            url: request.webhook.url,
            state: request.webhook.state,
            attempts: request.webhook.attempts,
            last_error: request.webhook.last_error,
            delivered_at: request.webhook.delivered_at?.toISOString() ?? null,
          },
        }
      : {}),
    ...(request.error_message ? { error_message: request.error_message } : {}),
    ...requestLinks(baseUrl, request._id),
  };
}
