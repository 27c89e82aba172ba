import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem, PROBLEM_CONTENT_TYPE, problemBody } from '../problem.js';
import { notFoundProblem } from './problem-details.js';

/**
 * Who may call a route, declared by the route itself in `config.access`:
 * - `public`: anyone (health, documentation, stored images);
 * - `tenant`: a key of API_KEYS (anyone when API_KEYS is unset); the request then belongs to that key;
 * - `operator`: a key of ADMIN_KEYS, to read the queue dashboard;
 * - `operator_write`: the same, to change queues, and only with ADMIN_DASHBOARD_WRITE;
 * - `metrics`: the bearer of METRICS_TOKEN (anyone when it is unset).
 */
export type RouteAccess = 'public' | 'tenant' | 'operator' | 'operator_write' | 'metrics';

const ACCESS_LEVELS: ReadonlySet<string> = new Set<RouteAccess>([
  'public',
  'tenant',
  'operator',
  'operator_write',
  'metrics',
]);

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Hash of the caller's tenant key; null without one (or when the API runs without keys). */
    owner: string | null;
  }
  interface FastifyInstance {
    /** Every route with the access it declared, for the route table test and the start-up check. */
    routeAccessTable(): readonly RouteAccessEntry[];
  }
}

export interface RouteAccessEntry {
  readonly method: string;
  readonly url: string;
  readonly access: RouteAccess | undefined;
}

export interface RouteAccessOptions {
  readonly apiKeys: readonly string[];
  readonly adminKeys: readonly string[];
  readonly adminDashboardWrite: boolean;
  readonly metricsToken: string | undefined;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest();

/** What a request records about its creator: a hash, never the key. */
function ownerOf(key: string): string {
  return createHash('sha256').update(`owner:${key}`).digest('hex').slice(0, 32);
}

/** The secret a request presents: `Bearer <secret>`, or HTTP Basic with it as the password (for browsers). */
function presentedSecret(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer?.[1]) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    return password === '' ? undefined : password;
  }
  return undefined;
}

/** A set of secrets, each compared as a SHA-256 digest in constant time, every one of them every time. */
class SecretRing {
  private readonly digests: readonly Buffer[];
  constructor(secrets: readonly string[]) {
    this.digests = secrets.map(digest);
  }
  get empty(): boolean {
    return this.digests.length === 0;
  }
  /** The index of the secret presented, or -1. */
  find(presented: string | undefined): number {
    if (presented === undefined) return -1;
    const candidate = digest(presented);
    let found = -1;
    this.digests.forEach((known, index) => {
      if (timingSafeEqual(candidate, known)) found = index;
    });
    return found;
  }
}

/**
 * Gives every route that `register` adds the access `decide` returns, unless the route declares its own. For
 * plugins of other projects, whose routes cannot declare ours.
 */
export async function registerWithAccess(
  app: FastifyInstance,
  decide: (route: RouteOptions) => RouteAccess,
  register: () => PromiseLike<unknown>,
): Promise<void> {
  let active = true;
  app.addHook('onRoute', (route) => {
    if (active && route.config?.access === undefined)
      route.config = { ...route.config, access: decide(route) };
  });
  try {
    await register();
  } finally {
    active = false;
  }
}

/**
 * Authorisation by route, deny by default. Each route says who may call it (`config.access`); one hook decides
 * from the route the router matched, never from the URL's text, so no spelling of a path can reach a route
 * without its rule. The API refuses to start while any route declares nothing. Refusals are answered before
 * the body is read, and close the connection rather than read a large body.
 */
export const routeAccess = fp(async (app: FastifyInstance, options: RouteAccessOptions) => {
  const tenants = new SecretRing(options.apiKeys);
  const owners = options.apiKeys.map(ownerOf);
  const operators = new SecretRing(options.adminKeys);
  const metricsTokens = new SecretRing(options.metricsToken ? [options.metricsToken] : []);

  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    // Kept by reference: hooks of inner scopes (registerWithAccess) may still set the access after this one.
    routes.push(route);
    // The API document says which routes need no key (its default, with API_KEYS, is the bearer key).
    if (route.config?.access === 'public' && route.schema && route.schema.security === undefined) {
      route.schema = { ...route.schema, security: [] };
    }
  });
  const table = (): RouteAccessEntry[] =>
    routes.flatMap((route) =>
      [route.method].flat().map((method) => ({ method, url: route.url, access: route.config?.access })),
    );
  app.decorate('routeAccessTable', table);
  app.addHook('onReady', async () => {
    const undeclared = table().filter((entry) => !entry.access || !ACCESS_LEVELS.has(entry.access));
    if (undeclared.length > 0) {
      throw new Error(
        `routes without a valid config.access (public, tenant, operator, operator_write or metrics): ${undeclared
          .map((entry) => `${entry.method} ${entry.url}`)
          .join(', ')}`,
      );
    }
  });

  const tenantOf = (request: FastifyRequest): string | null => {
    const index = tenants.find(presentedSecret(request.headers.authorization));
    return index >= 0 ? (owners[index] ?? null) : null;
  };

  app.decorateRequest('owner', null);
  // preParsing: after every onRequest hook (security headers, CORS, load shedding) and before the body is read.
  app.addHook('preParsing', async (request, reply) => {
    if (request.is404) {
      // Unknown routes are answered to anyone, but counted against a valid key's rate limit when one is sent.
      request.owner = tenantOf(request);
      return;
    }
    const access = request.routeOptions.config.access;
    const presented = presentedSecret(request.headers.authorization);
    switch (access) {
      case 'public':
        return;
      case 'tenant': {
        if (tenants.empty) return;
        const owner = tenantOf(request);
        if (owner) {
          request.owner = owner;
          return;
        }
        return refuse(
          reply,
          request,
          unauthorized('send a valid API key as "Authorization: Bearer <key>"'),
          'Bearer',
        );
      }
      case 'metrics':
        if (metricsTokens.empty || metricsTokens.find(presented) >= 0) return;
        return refuse(
          reply,
          request,
          unauthorized('send METRICS_TOKEN as "Authorization: Bearer <token>"'),
          'Bearer realm="metrics"',
        );
      case 'operator':
      case 'operator_write': {
        if (operators.find(presented) >= 0) {
          if (access === 'operator' || options.adminDashboardWrite) return;
          return refuse(
            reply,
            request,
            new HttpProblem(
              403,
              'dashboard_read_only',
              'Dashboard is read-only',
              'the queue dashboard changes nothing unless ADMIN_DASHBOARD_WRITE is true',
            ),
          );
        }
        // Tenants are not told that the operators' pages exist.
        if (operators.empty || tenants.find(presented) >= 0)
          return refuse(reply, request, notFoundProblem(request));
        return refuse(
          reply,
          request,
          unauthorized('sign in with an operator key (ADMIN_KEYS)'),
          'Basic realm="image-service operators"',
        );
      }
      default:
        // Unreachable while the start-up check holds; refused all the same.
        return refuse(reply, request, notFoundProblem(request));
    }
  });
});

const unauthorized = (detail: string) => new HttpProblem(401, 'unauthorized', 'Unauthorized', detail);

/**
 * Answers a refused request here rather than by throwing (plugins with their own error handler, such as the
 * dashboard, must not reshape it), and closes the connection so that a large body is never read.
 */
function refuse(
  reply: FastifyReply,
  request: FastifyRequest,
  problem: HttpProblem,
  challenge?: string,
): FastifyReply {
  if (challenge) reply.header('www-authenticate', challenge);
  request.log.info({ code: problem.code, route: request.routeOptions.url }, problem.title);
  return reply
    .code(problem.status)
    .header('connection', 'close')
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemBody(problem, request.url));
}
