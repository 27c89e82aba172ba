import { findRequest, type RequestDocument } from '@imgsvc/db';
import { completionPercentage, isFinished } from '@imgsvc/domain';
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
 * The caller's request (404 otherwise) once it is finished; 409 `not_finished` with its progress while it runs,
 * naming what waits for the end (`wanted`: "the result is ready", "it can be deleted").
 */
export async function findOwnedFinishedRequest(
  context: ApiContext,
  request: FastifyRequest,
  id: string,
  wanted?: string,
): Promise<RequestDocument> {
  const found = await findOwnedRequest(context, request, id);
  if (!isFinished(found.status)) {
    const live = await liveProgress(context, found._id).catch(() => undefined);
    throw problems.notFinished({
      status: found.status,
      completionPercentage: completionPercentage(found, live),
      ...(wanted ? { wanted } : {}),
    });
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
