import { STATUS_CODES } from 'node:http';
import { describeUnreadiness, type ReadinessChecks } from '@imgsvc/lifecycle';
import type { FastifyReply } from 'fastify';

/**
 * Every problem the API answers with, built in this one file: a named factory each, taking what varies in the
 * case at hand. Routes and plugins throw (or send) what these return; none writes a status, code or title.
 */

interface ProblemSpec {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail?: string | undefined;
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An answer in RFC 9457 problem+json form: a stable code, a title, and what happened in this case. */
export class HttpProblem extends Error {
  override name = 'HttpProblem';
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(spec: ProblemSpec) {
    super(spec.detail ?? spec.title);
    this.status = spec.status;
    this.code = spec.code;
    this.title = spec.title;
    this.detail = spec.detail;
    this.extensions = spec.extensions ?? {};
    this.headers = spec.headers ?? {};
  }
}

const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

function problemType(code: string): string {
  return `urn:image-service:problem:${code}`;
}

export function problemBody(problem: HttpProblem, instance: string): Record<string, unknown> {
  // Extensions first: they can add members but never replace the standard ones.
  return {
    ...problem.extensions,
    type: problemType(problem.code),
    title: problem.title,
    status: problem.status,
    ...(problem.detail ? { detail: problem.detail } : {}),
    instance,
    code: problem.code,
  };
}

/** Answers with the problem as the body, its headers included; `instance` is the URL the caller asked for. */
export function sendProblem(reply: FastifyReply, problem: HttpProblem, instance: string): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemBody(problem, instance));
}

/**
 * The problem as a whole HTTP/1.1 response that closes the connection, for the rare answers written on the socket
 * itself, where no request object exists (a client too slow to finish sending its request).
 */
export function rawProblemResponse(problem: HttpProblem, instance: string): string {
  const body = JSON.stringify(problemBody(problem, instance));
  const headers = {
    ...problem.headers,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n${head.join('\r\n')}\r\n\r\n${body}`;
}

/** A row, column or field the caller should fix, as listed in a problem's `errors`. */
export interface ProblemError {
  readonly line?: number;
  readonly column?: string;
  readonly field?: string;
  readonly message: string;
}

const retryAfter = (seconds: number) => ({ 'retry-after': String(seconds) });

const SEND_FILE = 'send the CSV as multipart/form-data with a field named "file"';

const UNAUTHORIZED_DETAILS = {
  api_key: 'send a valid API key as "Authorization: Bearer <key>"',
  metrics_token: 'send METRICS_TOKEN as "Authorization: Bearer <token>"',
  operator_key: 'sign in with an operator key (ADMIN_KEYS)',
} as const;

const UNAVAILABLE_DETAILS = {
  database_unavailable: 'the database cannot serve right now; try again shortly',
  queue_unavailable: 'the job queue is unreachable; try again shortly',
  progress_unavailable: 'the progress of running requests is unreachable; try again shortly',
  storage_unavailable: 'the image storage cannot serve right now; try again shortly',
} as const;

export const problems = {
  // Routing and the caller's own requests.

  /** No route answers this method and URL, or the caller may not know that one does. */
  notFound: ({ method, url }: { method: string; url: string }) =>
    new HttpProblem({
      status: 404,
      code: 'not_found',
      title: 'Not found',
      detail: `no route for ${method} ${url}`,
    }),

  /** No request with this id, or not the caller's: the two are not told apart. */
  requestNotFound: ({ id }: { id: string }) =>
    new HttpProblem({
      status: 404,
      code: 'request_not_found',
      title: 'Request not found',
      detail: `no request ${id}`,
    }),

  imageNotFound: ({ key }: { key: string }) =>
    new HttpProblem({
      status: 404,
      code: 'image_not_found',
      title: 'Image not found',
      detail: `no stored image ${key}`,
    }),

  /** The result was asked for, or the request's deletion, while the request still runs. */
  notFinished: ({
    status,
    completionPercentage,
    wanted = 'the result is ready',
  }: {
    status: string;
    completionPercentage: number;
    wanted?: string;
  }) =>
    new HttpProblem({
      status: 409,
      code: 'not_finished',
      title: 'Request not finished',
      detail: `the request is ${status} (${completionPercentage}%); ${wanted} once it is finished`,
      extensions: { request_status: status, completion_percentage: completionPercentage },
      headers: retryAfter(5),
    }),

  /** A retry of a request whose every image succeeded. */
  nothingToRetry: ({ id }: { id: string }) =>
    new HttpProblem({
      status: 409,
      code: 'nothing_to_retry',
      title: 'Nothing to retry',
      detail: `every image of request ${id} succeeded`,
    }),

  /** A request is retried once; its retry may be retried in turn. */
  alreadyRetried: ({ id, retriedBy }: { id: string; retriedBy: string }) =>
    new HttpProblem({
      status: 409,
      code: 'already_retried',
      title: 'Already retried',
      detail: `request ${id} was retried by request ${retriedBy}; retry that one to try its failed images again`,
      extensions: { retried_by: retriedBy },
    }),

  invalidCursor: () =>
    new HttpProblem({
      status: 400,
      code: 'invalid_cursor',
      title: 'Invalid cursor',
      detail: 'pass the next_cursor of the previous page',
    }),

  // Who may call.

  /** The route needs a credential the request did not present: which one says what to send. */
  unauthorized: ({ credential }: { credential: keyof typeof UNAUTHORIZED_DETAILS }) =>
    new HttpProblem({
      status: 401,
      code: 'unauthorized',
      title: 'Unauthorized',
      detail: UNAUTHORIZED_DETAILS[credential],
    }),

  dashboardReadOnly: () =>
    new HttpProblem({
      status: 403,
      code: 'dashboard_read_only',
      title: 'Dashboard is read-only',
      detail: 'the queue dashboard changes nothing unless ADMIN_DASHBOARD_WRITE is true',
    }),

  crossSiteRequest: () =>
    new HttpProblem({
      status: 403,
      code: 'cross_site_request',
      title: 'Cross-site request refused',
      detail: 'the queue dashboard changes nothing on behalf of another site',
    }),

  rateLimited: ({
    max,
    windowMs,
    retryAfterSeconds,
  }: {
    max: number;
    windowMs: number;
    retryAfterSeconds: number;
  }) =>
    new HttpProblem({
      status: 429,
      code: 'rate_limited',
      title: 'Too many requests',
      detail: `at most ${max} requests per ${Math.round(windowMs / 1000)} s; retry in ${retryAfterSeconds} s`,
      headers: retryAfter(retryAfterSeconds),
    }),

  /** The caller's key already has `limit` uploads in flight (UPLOAD_CONCURRENCY_PER_KEY). */
  tooManyUploads: ({ limit, retryAfterSeconds }: { limit: number; retryAfterSeconds: number }) =>
    new HttpProblem({
      status: 429,
      code: 'too_many_uploads',
      title: 'Too many uploads at once',
      detail: `at most ${limit} uploads at once per key; send this one when one of them has finished`,
      headers: retryAfter(retryAfterSeconds),
    }),

  /** The client took longer than its limit to send the request (REQUEST_TIMEOUT_MS or HEADERS_TIMEOUT_MS). */
  requestTooSlow: () =>
    new HttpProblem({
      status: 408,
      code: 'request_too_slow',
      title: 'Request timeout',
      detail: 'the request was not received in time; the connection is closed',
    }),

  /** The caller's key already holds SSE_MAX_STREAMS_PER_KEY live progress streams (`max`). */
  tooManyStreams: ({ max, retryAfterSeconds }: { max: number; retryAfterSeconds: number }) =>
    new HttpProblem({
      status: 429,
      code: 'too_many_streams',
      title: 'Too many event streams',
      detail: `at most ${max} live progress streams per key at once; close one, or retry in ${retryAfterSeconds} s`,
      headers: retryAfter(retryAfterSeconds),
    }),

  // The upload form.

  unsupportedMediaType: () =>
    new HttpProblem({
      status: 415,
      code: 'unsupported_media_type',
      title: 'Unsupported media type',
      detail: SEND_FILE,
    }),

  unknownField: ({ field }: { field: string }) =>
    new HttpProblem({
      status: 400,
      code: 'unknown_field',
      title: 'Unknown form field',
      detail: `unexpected field "${field.slice(0, 60)}"; the form takes "file" and an optional "webhook_url"`,
    }),

  /** A known field sent as the wrong kind of part. */
  invalidField: ({ field, mustBe }: { field: string; mustBe: 'text' | 'a file part' }) =>
    new HttpProblem({
      status: 400,
      code: 'invalid_field',
      title: 'Invalid form field',
      detail: `"${field}" must be ${mustBe}`,
    }),

  tooManyFiles: () =>
    new HttpProblem({
      status: 400,
      code: 'too_many_files',
      title: 'Too many files',
      detail: 'send exactly one file, in the field "file"',
    }),

  tooManyFields: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 400, code: 'too_many_fields', title: 'Too many form fields', detail }),

  missingFile: () =>
    new HttpProblem({
      status: 400,
      code: 'missing_file',
      title: 'Missing file',
      detail: 'send the CSV in a multipart field named "file"',
    }),

  /** The CSV outgrew MAX_UPLOAD_BYTES (`maxBytes`), or the multipart reader said so (`detail`). */
  uploadTooLarge: (options: { maxBytes: number } | { detail: string }) =>
    new HttpProblem({
      status: 413,
      code: 'upload_too_large',
      title: 'Upload too large',
      detail: 'maxBytes' in options ? `the CSV is larger than ${options.maxBytes} bytes` : options.detail,
    }),

  /** Not an absolute http(s) URL within `maxLength`, or (`refusal`) a target the fetch guard refuses. */
  invalidWebhookUrl: (options: { maxLength: number } | { refusal: string }) =>
    new HttpProblem({
      status: 400,
      code: 'invalid_webhook_url',
      title: 'Invalid webhook URL',
      detail:
        'maxLength' in options
          ? `webhook_url must be an absolute http or https URL of at most ${options.maxLength} characters`
          : `webhook_url: ${options.refusal}`,
    }),

  invalidIdempotencyKey: () =>
    new HttpProblem({
      status: 400,
      code: 'invalid_idempotency_key',
      title: 'Invalid Idempotency-Key',
      detail: 'send one Idempotency-Key of 1 to 255 visible ASCII characters',
    }),

  idempotencyKeyReused: () =>
    new HttpProblem({
      status: 422,
      code: 'idempotency_key_reused',
      title: 'Idempotency-Key reused',
      detail:
        'this Idempotency-Key was used with another file or webhook_url; use a new key for a new upload',
    }),

  /** The first upload with this key has claimed it but not yet stored its request. */
  idempotencyKeyInUse: () =>
    new HttpProblem({
      status: 409,
      code: 'idempotency_key_in_use',
      title: 'Idempotency-Key in use',
      detail:
        'the request of the first upload with this key is not stored (that upload is under way, or has just failed); retry in a moment',
      headers: retryAfter(1),
    }),

  // The CSV itself (the CSV package's message is the detail).

  csvTooManyRows: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 413, code: 'csv_too_many_rows', title: 'Too many rows', detail }),

  csvInvalidRows: ({
    detail,
    errors,
    totalErrors,
  }: {
    detail: string;
    errors: readonly ProblemError[];
    totalErrors: number;
  }) =>
    new HttpProblem({
      status: 422,
      code: 'csv_invalid_rows',
      title: 'Invalid CSV rows',
      detail,
      extensions: { errors, total_errors: totalErrors },
    }),

  csvInvalidHeader: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 422, code: 'csv_header', title: 'Invalid CSV header', detail }),

  csvNoProducts: ({ code, detail }: { code: 'csv_empty' | 'csv_no_rows'; detail: string }) =>
    new HttpProblem({ status: 422, code, title: 'No products in the CSV', detail }),

  csvNotText: ({ code, detail }: { code: 'csv_not_utf8' | 'csv_binary'; detail: string }) =>
    new HttpProblem({ status: 415, code, title: 'Not CSV text', detail }),

  csvMalformed: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 422, code: 'csv_malformed', title: 'Unreadable CSV', detail }),

  // Requests the framework could not read (its message is the detail).

  bodyTooLarge: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 413, code: 'body_too_large', title: 'Request body too large', detail }),

  badRequest: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 400, code: 'bad_request', title: 'Bad request', detail }),

  malformedMultipart: ({ detail }: { detail: string }) =>
    new HttpProblem({ status: 400, code: 'malformed_multipart', title: 'Malformed multipart body', detail }),

  /** Parameters, query or body that fail the route's schema, each failure in `errors`. */
  invalidRequest: ({ detail, errors }: { detail: string; errors: readonly ProblemError[] }) =>
    new HttpProblem({
      status: 400,
      code: 'invalid_request',
      title: 'Invalid request',
      detail,
      extensions: { errors },
    }),

  /** Another 4xx a plugin raised, named after its status ("Forbidden", forbidden). */
  clientError: ({ status, detail }: { status: number; detail: string }) => {
    const reason = STATUS_CODES[status] ?? 'Bad request';
    const title = `${reason.charAt(0)}${reason.slice(1).toLowerCase()}`;
    return new HttpProblem({ status, code: title.toLowerCase().replace(/[^a-z0-9]+/g, '_'), title, detail });
  },

  // The service itself.

  /** A server the answer depends on cannot serve now; the client should retry after a few seconds. */
  serviceUnavailable: ({
    code,
    retryAfterSeconds = 5,
  }: {
    code: keyof typeof UNAVAILABLE_DETAILS;
    retryAfterSeconds?: number;
  }) =>
    new HttpProblem({
      status: 503,
      code,
      title: 'Service unavailable',
      detail: UNAVAILABLE_DETAILS[code],
      headers: retryAfter(retryAfterSeconds),
    }),

  /** The event loop lags past its limit: new requests are shed. */
  overloaded: ({ retryAfterSeconds }: { retryAfterSeconds: number }) =>
    new HttpProblem({
      status: 503,
      code: 'overloaded',
      title: 'Service overloaded',
      detail: 'the server is too busy to answer now; try again shortly',
      headers: retryAfter(retryAfterSeconds),
    }),

  /** This API process already receives `limit` uploads (UPLOAD_CONCURRENCY); another process may take it. */
  uploadCapacity: ({ limit, retryAfterSeconds }: { limit: number; retryAfterSeconds: number }) =>
    new HttpProblem({
      status: 503,
      code: 'upload_capacity',
      title: 'Upload capacity reached',
      detail: `this server receives at most ${limit} uploads at once; try again shortly`,
      headers: retryAfter(retryAfterSeconds),
    }),

  /** This process has begun to close; another (or this one restarted) will answer. */
  shuttingDown: () =>
    new HttpProblem({
      status: 503,
      code: 'shutting_down',
      title: 'Shutting down',
      detail: 'this API process is stopping; send the request again',
      headers: retryAfter(1),
    }),

  /** Readiness: each check is 'ok' or why it failed. */
  notReady: ({ checks }: { checks: ReadinessChecks }) =>
    new HttpProblem({
      status: 503,
      code: 'not_ready',
      title: 'Not ready',
      detail: describeUnreadiness(checks),
      extensions: { checks },
    }),

  /** Anything else: the cause is logged, never shown. */
  internalError: () =>
    new HttpProblem({
      status: 500,
      code: 'internal_error',
      title: 'Internal error',
      detail: 'the request could not be completed',
    }),
};
