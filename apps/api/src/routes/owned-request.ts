import { findRequest, type RequestDocument } from '@imgsvc/db';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';
import { isRequestId } from '../request-view.js';

/** Route parameters of every per-request route; the id itself is checked by findOwnedRequest. */
export const requestIdParams = {
  type: 'object',
  properties: { requestId: { type: 'string', maxLength: 64 } },
  required: ['requestId'],
} as const;

/** The request with that id if the caller may see it; 404 otherwise, so ids of others are not revealed. */
export async function findOwnedRequest(
  context: ApiContext,
  request: FastifyRequest,
  id: string,
): Promise<RequestDocument> {
  const found = isRequestId(id) ? await findRequest(context.db, id) : null;
  if (!found || found.owner !== request.owner) {
    throw new HttpProblem(404, 'request_not_found', 'Request not found', `no request ${id}`);
  }
  return found;
}
