import { Readable } from 'node:stream';
import type { ProductWithResult, RequestDocument } from '@imgsvc/db';
import {
  completionPercentage,
  countsView,
  type RequestCounts,
  type RequestStatus,
  requestLinks,
} from '@imgsvc/domain';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isRequestId(value: string): boolean {
  return UUID_V4.test(value);
}

/** The 202 answer of a request just accepted (an upload, a retry): where to follow it. */
export function acceptedView(requestId: string, status: RequestStatus, baseUrl: string) {
  return { request_id: requestId, status, ...requestLinks(baseUrl, requestId) };
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
    ...(request.warnings && request.warnings.length > 0 ? { warnings: request.warnings } : {}),
    ...(request.retry_of ? { retry_of: request.retry_of } : {}),
    ...(request.retried_by ? { retried_by: request.retried_by } : {}),
    ...requestLinks(baseUrl, request._id),
  };
}

/**
 * One product with its images: input URL, output URL, their sizes and the error, aligned, as the products page
 * and JSON results show them.
 */
export function productView({ product, result }: ProductWithResult) {
  return {
    row: product.row,
    serial_number: product.serial_number,
    product_name: product.product_name,
    done: result !== null,
    images: product.input_urls.map((url, index) => {
      const error = result?.errors.find((failure) => failure.url === url);
      const sizes = result?.image_sizes?.[index];
      return {
        input_url: url,
        output_url: result?.output_urls[index] ?? null,
        input_bytes: sizes?.input_bytes ?? null,
        output_bytes: sizes?.output_bytes ?? null,
        error: error ? { code: error.code, message: error.message } : null,
      };
    }),
  };
}

/**
 * A finished request's results as one JSON document, streamed product by product (a large request is never
 * held whole): the request's id, status and counts, then every product in CSV order as `productView` shows it.
 */
export function resultJsonStream(
  request: RequestDocument,
  products: AsyncIterable<ProductWithResult>,
  baseUrl: string,
): Readable {
  const { request_id, status, finished_at, counts } = statusView(request, baseUrl);
  async function* text() {
    yield `{"request_id":${JSON.stringify(request_id)},"status":${JSON.stringify(status)},"finished_at":${JSON.stringify(finished_at ?? null)},"counts":${JSON.stringify(counts)},"products":[`;
    let first = true;
    for await (const entry of products) {
      yield `${first ? '' : ','}\n${JSON.stringify(productView(entry))}`;
      first = false;
    }
    yield '\n]}\n';
  }
  return Readable.from(text());
}
