import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  checkReadiness,
  describeUnreadiness,
  isReady,
  type ReadinessChecks,
  type ReadinessProbes,
} from '@imgsvc/lifecycle';
import type { Logger } from '@imgsvc/logging';
import type { WorkerMetrics } from './metrics.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

export interface OperationsListener {
  /** WORKER_METRICS_HOST: loopback by default, so that only this machine can reach it. */
  readonly host: string;
  /** WORKER_METRICS_PORT; 0 turns the listener off. */
  readonly port: number;
  /** METRICS_TOKEN: when set, scrapes of /metrics must send it as a bearer token (health checks need none). */
  readonly token: string | undefined;
  readonly log: Logger;
}

/**
 * The body of the API's `not_ready` problem (apps/api/src/problems.ts), with the same members in the same
 * order; the worker has no Fastify to build it.
 */
function notReadyProblem(checks: ReadinessChecks, instance: string) {
  return {
    checks,
    type: 'urn:image-service:problem:not_ready',
    title: 'Not ready',
    status: 503,
    detail: describeUnreadiness(checks),
    instance,
    code: 'not_ready',
  };
}

/** Whether a request carries `Authorization: Bearer <token>`, compared as digests in constant time. */
function presentsToken(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (presented === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

/** A health answer: never cached, since it is only true of the moment it was given. */
function sendHealth(response: ServerResponse, status: number, type: string, body: unknown): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    })
    .end(text);
}

/**
 * The worker's operations listener, on its own address (port 0 turns it off): GET /metrics (behind
 * METRICS_TOKEN when set), and GET /health/live and /health/ready, open to the probes of an orchestrator. A port
 * in use is logged, and the worker runs without it.
 */
export async function serveOperations(
  metrics: WorkerMetrics,
  probes: ReadinessProbes,
  { host, port, token, log }: OperationsListener,
): Promise<Server | undefined> {
  if (port === 0) return undefined;
  const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => Promise<void>> = {
    '/health/live': async (_request, response) => sendHealth(response, 200, JSON_TYPE, { status: 'ok' }),
    '/health/ready': async (request, response) => {
      const checks = await checkReadiness(probes);
      if (isReady(checks)) sendHealth(response, 200, JSON_TYPE, { status: 'ok', checks });
      else sendHealth(response, 503, PROBLEM_TYPE, notReadyProblem(checks, request.url ?? '/health/ready'));
    },
    '/metrics': async (request, response) => {
      if (token !== undefined && !presentsToken(request.headers.authorization, token)) {
        response.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', connection: 'close' }).end();
        return;
      }
      const text = await metrics.registry.metrics();
      response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
    },
  };
  const server = createServer((request, response) => {
    const route = routes[new URL(request.url ?? '/', 'http://worker').pathname];
    if (!route) {
      response.writeHead(404).end();
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    route(request, response).catch((error: unknown) => {
      log.error({ err: error, url: request.url }, 'worker operations request failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  return new Promise((resolve) => {
    server.once('error', (error) => {
      log.error({ err: error, host, port }, 'worker metrics not served: the address is unavailable');
      resolve(undefined);
    });
    server.listen(port, host, () => {
      const shown = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      log.info(
        { metrics_url: `${shown}/metrics`, health_url: `${shown}/health/ready`, token: token !== undefined },
        'worker operations listening',
      );
      resolve(server);
    });
  });
}
