import { STATUS_CODES } from 'node:http';
import { type CountsView, IMAGE_FAILURE_REASONS, type RequestStatus } from '@imgsvc/domain';
import { z } from 'zod';

/**
 * The API's bodies as zod schemas: they validate requests, serialise answers and generate the OpenAPI
 * document (registered by id, so the document refers to each once).
 */

const EXAMPLE_ID = '5f408e93-f5fd-410e-b593-4b0e21c39b0a';
const BASE = 'https://images.example.com';

export const requestIdParams = z.object({
  requestId: z
    .string()
    .max(64)
    .describe('The request id returned by the upload (a UUID v4).')
    .meta({ example: EXAMPLE_ID }),
});

export const retryBody = z
  .object({
    webhook_url: z
      .string()
      .max(2048)
      .optional()
      .describe("Where to send the retry's callback; the original request's webhook when left out."),
  })
  .strict()
  .nullish();

export const retryAccepted = z
  .object({
    request_id: z.uuid(),
    status: z.enum(['pending', 'in_progress', 'completed', 'failed']),
    status_url: z.url(),
    download_url: z.url(),
    retry_of: z.uuid(),
    products: z.number().int().describe('Products with a failed image, each with only its failed URLs.'),
    images: z.number().int(),
  })
  .meta({
    id: 'RetryAccepted',
    example: {
      request_id: '0b7f5a52-1a4c-4a47-9a57-2f2f7b1e8c11',
      status: 'pending',
      status_url: `${BASE}/api/status/0b7f5a52-1a4c-4a47-9a57-2f2f7b1e8c11`,
      download_url: `${BASE}/api/download/0b7f5a52-1a4c-4a47-9a57-2f2f7b1e8c11`,
      retry_of: EXAMPLE_ID,
      products: 1,
      images: 1,
    },
  });

export const requestDeleted = z
  .object({
    request_id: z.uuid(),
    deleted_at: z.iso.datetime(),
  })
  .meta({
    id: 'RequestDeleted',
    description:
      'The request is gone for every reader at once; its products, results and the outputs no other request lists are removed by the worker within a minute or two.',
    example: { request_id: EXAMPLE_ID, deleted_at: '2026-11-26T10:00:00.000Z' },
  });

/** How an accepted file was read where it needed a reading of its own. */
const readingWarnings = z
  .array(z.object({ line: z.number().int(), message: z.string() }))
  .readonly()
  .describe(
    'Present when the file needed a reading of its own (a header of a result CSV, serial numbers written "1."…): each kind once, with the first line it was met on.',
  );

export const uploadAccepted = z
  .object({
    request_id: z.uuid(),
    status: z.enum(['pending', 'in_progress', 'completed', 'failed']),
    status_url: z.url(),
    download_url: z.url(),
    warnings: readingWarnings.optional(),
  })
  .meta({
    id: 'UploadAccepted',
    example: {
      request_id: EXAMPLE_ID,
      status: 'pending',
      status_url: `${BASE}/api/status/${EXAMPLE_ID}`,
      download_url: `${BASE}/api/download/${EXAMPLE_ID}`,
    },
  });

const counts = z
  .object({
    products: z.number().int(),
    products_done: z.number().int(),
    images: z.number().int(),
    images_succeeded: z.number().int(),
    images_failed: z.number().int(),
    failures_by_code: z.record(z.string(), z.number().int()).describe(
      `failed images by code; codes with none are left out. ${Object.entries(IMAGE_FAILURE_REASONS)
        .map(([code, reason]) => `\`${code}\`: ${reason}`)
        .join('; ')}; \`http_<status>\`: the image server answered with that error status`,
    ),
  })
  .meta({ id: 'Counts' }) satisfies z.ZodType<CountsView>;

const webhookDelivery = z
  .object({
    url: z.string(),
    state: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    delivered_at: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export const requestStatus = z
  .object({
    request_id: z.uuid(),
    status: z.enum(['pending', 'in_progress', 'completed', 'failed'] satisfies RequestStatus[]),
    completion_percentage: z.number().min(0).max(100),
    created_at: z.string(),
    updated_at: z.string(),
    finished_at: z.string().optional(),
    counts,
    webhook: webhookDelivery.optional(),
    error_message: z.string().optional(),
    warnings: readingWarnings.optional(),
    retry_of: z.uuid().optional().describe('The request whose failed images this one retries.'),
    retried_by: z.uuid().optional().describe("The request that retries this one's failed images."),
    status_url: z.string(),
    download_url: z.string(),
  })
  .meta({
    id: 'RequestStatus',
    example: {
      request_id: EXAMPLE_ID,
      status: 'in_progress',
      completion_percentage: 42.5,
      created_at: '2026-11-25T15:53:21.865Z',
      updated_at: '2026-11-25T15:53:24.190Z',
      counts: {
        products: 40,
        products_done: 17,
        images: 95,
        images_succeeded: 39,
        images_failed: 1,
        failures_by_code: { http_404: 1 },
      },
      webhook: {
        url: 'https://shop.example.com/hooks/images',
        state: 'pending',
        attempts: 0,
        last_error: null,
        delivered_at: null,
      },
      status_url: `${BASE}/api/status/${EXAMPLE_ID}`,
      download_url: `${BASE}/api/download/${EXAMPLE_ID}`,
    },
  });

const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.string(),
    errors: z
      .array(
        z.object({
          line: z.number().int().optional(),
          column: z.string().optional(),
          field: z.string().optional(),
          message: z.string(),
        }),
      )
      .optional(),
    total_errors: z.number().int().optional(),
  })
  .loose()
  .meta({
    id: 'Problem',
    description: 'RFC 9457 problem details; `code` is stable, `errors` lists row or field problems.',
    example: {
      type: 'urn:image-service:problem:csv_invalid_rows',
      title: 'Invalid CSV rows',
      status: 422,
      detail: '1 problem in the rows; nothing was stored',
      instance: '/api/upload',
      code: 'csv_invalid_rows',
      errors: [{ line: 3, column: 'S. No.', message: '"x" is not a positive whole number' }],
      total_errors: 1,
    },
  });

export const resultFormatQuery = z.object({
  format: z
    .enum(['csv', 'json'])
    .optional()
    .describe('`csv` (the default) or `json`; without it, `Accept: application/json` asks for JSON.'),
});

export const productsQuery = z.object({
  cursor: z
    .string()
    .max(20)
    .optional()
    .describe('The `next_cursor` of the previous page; omit for the first page.'),
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('Products per page (1–500).'),
});

const productDetails = z
  .object({
    row: z.number().int(),
    serial_number: z.number().int(),
    product_name: z.string(),
    done: z.boolean(),
    images: z.array(
      z.object({
        input_url: z.string(),
        output_url: z.string().nullable(),
        input_bytes: z
          .number()
          .int()
          .nullable()
          .describe('Bytes downloaded; null where the image failed or its size is not known.'),
        output_bytes: z
          .number()
          .int()
          .nullable()
          .describe('Bytes of the stored output; null where there is none.'),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
    ),
  })
  .meta({ id: 'ProductDetails' });

export const productsPage = z
  .object({
    request_id: z.uuid(),
    products: z.array(productDetails),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .meta({
    id: 'ProductsPage',
    example: {
      request_id: EXAMPLE_ID,
      products: [
        {
          row: 1,
          serial_number: 1,
          product_name: 'SKU1',
          done: true,
          images: [
            {
              input_url: 'https://cdn.example.com/a.jpg',
              output_url: `${BASE}/images/9c93b087….jpg`,
              input_bytes: 412_377,
              output_bytes: 96_204,
              error: null,
            },
            {
              input_url: 'https://cdn.example.com/b.jpg',
              output_url: null,
              input_bytes: null,
              output_bytes: null,
              error: { code: 'http_404', message: 'the server answered 404' },
            },
          ],
        },
      ],
      next_cursor: '1',
    },
  });

export const liveness = z.object({ status: z.literal('ok') }).meta({ example: { status: 'ok' } });
export const readiness = z
  .object({
    status: z.literal('ok'),
    checks: z.object({ mongodb: z.string(), redis: z.string(), storage: z.string() }),
  })
  .meta({ example: { status: 'ok', checks: { mongodb: 'ok', redis: 'ok', storage: 'ok' } } });

/** The media type of every error answer (RFC 9457). */
const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** What each error status means on this API, for the document's readers. */
const PROBLEM_MEANINGS: Readonly<Record<number, string>> = {
  400: 'The request is malformed; `errors` names the fields.',
  401: 'No key, or not one of the API_KEYS.',
  404: "Not found, or not the caller's.",
  409: 'Not possible in the current state; `code` says why.',
  413: 'Larger than the service accepts.',
  415: 'Not a content type the route reads.',
  422: 'Well formed but invalid; `errors` lists the problems.',
  429: 'Too many requests; `Retry-After` says when to try again.',
  503: 'A server it needs is unreachable, or the service is overloaded; `code` says which.',
};

/**
 * Problem answers by status, for a route's `response` schema: typed `application/problem+json`, the type every
 * error is sent with (problems.ts), so that the document, the serialiser and the wire agree.
 */
export function problemResponses(...statuses: number[]): Record<number, ProblemResponse> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: PROBLEM_MEANINGS[status] ?? STATUS_CODES[status] ?? 'Error',
        content: { [PROBLEM_MEDIA_TYPE]: { schema: problem } },
      },
    ]),
  );
}

interface ProblemResponse {
  readonly description: string;
  readonly content: Readonly<Record<typeof PROBLEM_MEDIA_TYPE, { readonly schema: typeof problem }>>;
}
