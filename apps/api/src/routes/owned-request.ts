import { findRequest, type RequestDocument } from '@imgsvc/db';
import type { LiveProgress } from '@imgsvc/job-state';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { isRequestId } from '../request-view.js';

/** The request with that id if the caller may see it; 404 otherwise, so ids of others are not revealed. */
export async function findOwnedRequest(
  context: ApiContext,
  request: FastifyRequest,
  id: string,
  source: 'database' | 'cache' = 'database',
): Promise<RequestDocument> {
  const read =
    source === 'cache'
      ? (key: string) => context.requestCache.find(key)
      : (key: string) => findRequest(context.db, key);
  const found = isRequestId(id) ? await read(id) : null;
  if (!found || found.owner !== request.owner) {
    throw problems.requestNotFound({ id });
  }
  return found;
}

/**
 * A running request's live counts, from Redis. Without them a percentage could only be a guess that might go
 * backwards, so an unreachable Redis is a 503.
 */
export async function liveProgress(context: ApiContext, id: string): Promise<LiveProgress> {
  try {
    return await context.progress.readProgress(id);
  } catch {
    throw problems.serviceUnavailable({ code: 'progress_unavailable', retryAfterSeconds: 5 });
  }
}
