import type { OutgoingHttpHeaders } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { findRequest } from '@imgsvc/db';
import { isFinished } from '@imgsvc/domain';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { statusView } from '../request-view.js';
import { problemResponses, requestIdParams } from '../schemas.js';
import { findOwnedRequest, liveProgress } from './owned-request.js';

const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;

/**
 * Server-sent events: `progress` with the status whenever it changes, then `completed` or `failed` with the
 * final status, and the stream ends. Comment lines keep idle proxies from closing it.
 */
export async function eventRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/status/:requestId/events',
    {
      config: { access: 'tenant' },
      schema: {
        tags: ['requests'],
        summary: 'Live progress as server-sent events',
        description:
          'A `text/event-stream`: `progress` events carry the status (as `GET /api/status/{request_id}`) whenever it changes; the last event is `completed` or `failed`, then the stream ends.',
        params: requestIdParams,
        produces: ['text/event-stream'],
        response: {
          200: z.unknown().describe('event: progress\\ndata: {"request_id":"…","status":"in_progress",…}'),
          ...problemResponses(401, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const found = await findOwnedRequest(context, request, request.params.requestId);
      reply.hijack();
      const stream = reply.raw;
      // Written by hand: the headers every answer carries (security, CORS, rate limit) are added here.
      stream.writeHead(200, {
        ...(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        open.delete(end);
        stream.end();
      };
      open.add(end);
      stream.on('close', end);
      stream.write('retry: 2000\n\n');

      let sequence = 0;
      let last = '';
      let lastWrite = Date.now();
      try {
        for (let current = found; !ended; ) {
          const live = isFinished(current.status)
            ? undefined
            : await liveProgress(context, current._id).catch(() => undefined);
          const view = statusView(current, context.config.publicBaseUrl, live);
          const text = JSON.stringify(view);
          if (text !== last) {
            const event = isFinished(current.status) ? current.status : 'progress';
            stream.write(`event: ${event}\nid: ${++sequence}\ndata: ${text}\n\n`);
            last = text;
            lastWrite = Date.now();
          } else if (Date.now() - lastWrite >= HEARTBEAT_MS) {
            stream.write(': still running\n\n');
            lastWrite = Date.now();
          }
          if (isFinished(current.status)) break;
          await delay(POLL_MS);
          current = (await findRequest(context.db, current._id)) ?? current;
        }
      } catch (error) {
        request.log.warn({ err: error }, 'event stream stopped');
      } finally {
        end();
      }
    },
  );
}
