import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { type FeedMessage, ProgressFeeds } from '../progress-feeds.js';
import { problemResponses, requestIdParams } from '../schemas.js';
import { findOwnedRequest } from './owned-request.js';

const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
/** What a client is told to wait before it reconnects; a stream ended for its age adds a spread to it. */
const RETRY_MS = 2000;
/** A stream whose client has stopped reading is dropped before its unsent events pile up. */
const MAX_UNSENT_BYTES = 1024 * 1024;
/** When a refused client may try again: a slot frees only as another of its streams ends. */
const FULL_RETRY_AFTER_SECONDS = 10;

/**
 * Server-sent events: `progress` with the status whenever it changes, then `completed` or `failed` with the
 * final status, and the stream ends. Comment lines keep idle proxies from closing it. Every stream of a request
 * is fed by one poller (progress-feeds.ts); each key holds at most SSE_MAX_STREAMS_PER_KEY streams in this
 * process, and a stream older than SSE_MAX_STREAM_SECONDS ends with a `reconnect` event and a retry hint.
 */
export async function eventRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { maxStreamsPerKey, maxStreamSeconds } = context.config.progressStreams;
  const feeds = new ProgressFeeds(context, app.log, { intervalMs: POLL_MS, heartbeatMs: HEARTBEAT_MS });
  /** Streams open per tenant key, or per address when the API runs without keys. */
  const held = new Map<string, number>();
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/status/:requestId/events',
    {
      config: { access: 'tenant' },
      schema: {
        operationId: 'streamRequestEvents',
        tags: ['requests'],
        summary: 'Live progress as server-sent events',
        description:
          'A `text/event-stream`: `progress` events carry the status (as `GET /api/status/{request_id}`) whenever it changes; the last event is `completed` or `failed`, then the stream ends. A stream open for `SSE_MAX_STREAM_SECONDS` ends with a `reconnect` event and a `retry` hint instead (EventSource reconnects by itself). Each key may hold `SSE_MAX_STREAMS_PER_KEY` streams at once; one more is refused with 429 `too_many_streams`.',
        params: requestIdParams,
        produces: ['text/event-stream'],
        response: {
          200: z.unknown().describe('event: progress\\ndata: {"request_id":"…","status":"in_progress",…}'),
          ...problemResponses(400, 401, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const found = await findOwnedRequest(context, request, request.params.requestId, 'cache');
      const holder = request.owner ? `key:${request.owner}` : `ip:${request.ip}`;
      const streams = held.get(holder) ?? 0;
      if (streams >= maxStreamsPerKey) {
        throw problems.tooManyStreams({
          max: maxStreamsPerKey,
          retryAfterSeconds: FULL_RETRY_AFTER_SECONDS,
        });
      }
      held.set(holder, streams + 1);

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
      stream.write(`retry: ${RETRY_MS}\n\n`);

      let sequence = 0;
      let unfollow = () => {};
      let lifetime: NodeJS.Timeout | undefined;
      let ended = false;
      let closed: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        closed = resolve;
      });
      const end = () => {
        if (ended) return;
        ended = true;
        open.delete(end);
        clearTimeout(lifetime);
        unfollow();
        const left = (held.get(holder) ?? 1) - 1;
        if (left > 0) held.set(holder, left);
        else held.delete(holder);
        stream.end();
        closed();
      };
      lifetime = setTimeout(() => {
        // A spread, so that streams opened together do not all come back in the same instant.
        const retry = RETRY_MS + Math.floor(Math.random() * RETRY_MS);
        stream.write(`event: reconnect\nretry: ${retry}\ndata: {"reason":"max_stream_life"}\n\n`);
        end();
      }, maxStreamSeconds * 1000);
      open.add(end);
      stream.on('close', end);

      unfollow = feeds.follow(found._id, (message: FeedMessage) => {
        if (ended) return;
        if (message.kind === 'end') {
          end();
        } else if (stream.writableLength > MAX_UNSENT_BYTES) {
          request.log.warn('event stream dropped: the client is not reading');
          end();
        } else if (message.kind === 'status') {
          stream.write(`event: ${message.event}\nid: ${++sequence}\ndata: ${message.data}\n\n`);
        } else {
          stream.write(': still running\n\n');
        }
      });
      if (ended) unfollow();
      // The handler lasts as long as the stream, as any other answer lasts until it is sent.
      await done;
    },
  );
}
