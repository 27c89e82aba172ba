import { STATUS_CODES } from 'node:http';
import { isDatabaseUnavailable } from '@imgsvc/db';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem, PROBLEM_CONTENT_TYPE, problemBody } from '../problem.js';

/** Errors raised by Fastify and its plugins, as the problems a client should see. */
function fromFrameworkError(error: FastifyError): HttpProblem | undefined {
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new HttpProblem(413, 'upload_too_large', 'Upload too large', error.message);
    case 'FST_FILES_LIMIT':
      return new HttpProblem(
        400,
        'too_many_files',
        'Too many files',
        'send exactly one file, in the field "file"',
      );
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new HttpProblem(400, 'too_many_fields', 'Too many form fields', error.message);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem(
        415,
        'unsupported_media_type',
        'Unsupported media type',
        'send the CSV as multipart/form-data with a field named "file"',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem(413, 'body_too_large', 'Request body too large', error.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_PROTO_VIOLATION':
      return new HttpProblem(400, 'bad_request', 'Bad request', error.message);
    default:
      break;
  }
  if (isDatabaseUnavailable(error)) {
    return new HttpProblem(
      503,
      'database_unavailable',
      'Service unavailable',
      'the database cannot serve right now; try again shortly',
      {},
      { 'retry-after': '5' },
    );
  }
  if (error.validation) {
    return new HttpProblem(400, 'invalid_request', 'Invalid request', error.message, {
      errors: error.validation.map((issue) => ({
        field: `${error.validationContext ?? 'request'}${issue.instancePath.replaceAll('/', '.')}`,
        message: issue.message ?? 'is invalid',
      })),
    });
  }
  // Multipart bodies that end early or are not multipart after all.
  if (
    /Unexpected end of (form|multipart data)|Malformed part header|Multipart: Boundary not found/i.test(
      error.message,
    )
  ) {
    return new HttpProblem(400, 'malformed_multipart', 'Malformed multipart body', error.message);
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    // Named after the status ("Forbidden", forbidden), as a plugin's own 403 or 405 should read.
    const reason = STATUS_CODES[error.statusCode] ?? 'Bad request';
    const title = `${reason.charAt(0)}${reason.slice(1).toLowerCase()}`;
    return new HttpProblem(
      error.statusCode,
      title.toLowerCase().replace(/[^a-z0-9]+/g, '_'),
      title,
      error.message,
    );
  }
  return undefined;
}

/** One error shape for every route: problem+json, never a stack trace or an internal message. */
export function answerWithProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const problem = error instanceof HttpProblem ? error : fromFrameworkError(error);
  if (!problem) {
    request.log.error({ err: error }, 'unhandled error');
    const internal = new HttpProblem(
      500,
      'internal_error',
      'Internal error',
      'the request could not be completed',
    );
    return reply.code(500).type(PROBLEM_CONTENT_TYPE).send(problemBody(internal, request.url));
  }
  if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, problem.title);
  else request.log.info({ code: problem.code, detail: problem.detail }, problem.title);
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemBody(problem, request.url));
}

export const problemDetails = fp(async (app: FastifyInstance) => {
  app.setErrorHandler(answerWithProblem);
});

/** What an unknown route answers; also what a route a caller may not know of answers. */
export function notFoundProblem(request: FastifyRequest): HttpProblem {
  return new HttpProblem(404, 'not_found', 'Not found', `no route for ${request.method} ${request.url}`);
}

/** The 404 answer for unknown routes, in the same shape (registered after the rate limit, which guards it). */
export async function notFound(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  return reply
    .code(404)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemBody(notFoundProblem(request), request.url));
}
