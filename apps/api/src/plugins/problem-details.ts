import { isDatabaseUnavailable } from '@imgsvc/db';
import { isStorageUnavailable } from '@imgsvc/storage';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem, problems, sendProblem } from '../problems.js';

/** Errors raised by Fastify and its plugins, as the problems a client should see. */
function fromFrameworkError(error: FastifyError): HttpProblem | undefined {
  const detail = error.message;
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return problems.uploadTooLarge({ detail });
    case 'FST_FILES_LIMIT':
      return problems.tooManyFiles();
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return problems.tooManyFields({ detail });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problems.unsupportedMediaType();
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problems.bodyTooLarge({ detail });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_PROTO_VIOLATION':
      return problems.badRequest({ detail });
    default:
      break;
  }
  if (isDatabaseUnavailable(error)) return problems.serviceUnavailable({ code: 'database_unavailable' });
  if (isStorageUnavailable(error)) return problems.serviceUnavailable({ code: 'storage_unavailable' });
  if (error.validation) {
    return problems.invalidRequest({
      detail,
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
    return problems.malformedMultipart({ detail });
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return problems.clientError({ status: error.statusCode, detail });
  }
  return undefined;
}

/** One error shape for every route: problem+json, never a stack trace or an internal message. */
export function answerWithProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const problem = error instanceof HttpProblem ? error : fromFrameworkError(error);
  if (!problem) {
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, problems.internalError(), request.url);
  }
  if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, problem.title);
  else request.log.info({ code: problem.code, detail: problem.detail }, problem.title);
  return sendProblem(reply, problem, request.url);
}

export const problemDetails = fp(async (app: FastifyInstance) => {
  app.setErrorHandler(answerWithProblem);
});

/** The 404 answer for unknown routes, in the same shape (registered after the rate limit, which guards it). */
export async function notFound(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  return sendProblem(reply, problems.notFound({ method: request.method, url: request.url }), request.url);
}
