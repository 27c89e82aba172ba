import type { ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '@imgsvc/config';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { problems, rawProblemResponse } from './problems.js';

/**
 * The server's timeouts, so that no client holds a connection for as long as it likes:
 * - `headersTimeout` and `requestTimeout` (Node) bound receiving a request, its headers and then the whole of
 *   it, body included. They stop counting once the request is in, so an answer that lasts (a live progress
 *   stream) is not cut.
 * - `keepAliveTimeout` closes a kept-alive connection left idle between requests.
 * - `connectionTimeout` (the socket's idle timeout) closes a connection on which nothing moves either way, such
 *   as a client that stops reading an answer.
 * Node checks the first two every `connectionsCheckingInterval` (30 s by default), which would let a client
 * overstay by that much: the check runs at a tenth of the shorter timeout, at most every second.
 */
export function connectionLimits(clients: Config['clients']): Pick<
  FastifyServerOptions,
  'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout' | 'clientErrorHandler'
> & {
  http: ServerOptions;
} {
  const shortest = Math.min(clients.headersTimeoutMs, clients.requestTimeoutMs);
  return {
    requestTimeout: clients.requestTimeoutMs,
    connectionTimeout: clients.idleTimeoutMs,
    keepAliveTimeout: clients.keepAliveTimeoutMs,
    http: {
      headersTimeout: clients.headersTimeoutMs,
      requestTimeout: clients.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(shortest / 10))),
    },
    clientErrorHandler: answerClientError,
  };
}

type ClientError = Error & { code?: string };

/**
 * What a client whose request cannot be read is told before its connection is closed: a problem like every
 * other answer (Fastify's own is a JSON body of another shape). Nothing is written when an answer has begun.
 */
function answerClientError(this: FastifyInstance, error: ClientError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? problems.requestTooSlow()
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? problems.clientError({ status: 431, detail: 'the request headers are too large' })
        : problems.badRequest({ detail: 'the request is not valid HTTP/1.1' });
  this.log.info({ code: problem.code, reason: error.code }, 'client connection closed');
  const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !answering?.headersSent) socket.write(rawProblemResponse(problem, '*'));
  socket.destroy(error);
}
