import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { type HttpProblem, problems, sendProblem } from '../problems.js';

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
  /** METRICS_TOKEN; without one, /metrics is open, or off where `metricsOffWithoutToken` (production). */
  readonly metricsToken: string | undefined;
  readonly metricsOffWithoutToken: boolean;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest();

/** What a request records about its creator: a hash, never the key. */
export function ownerOf(key: string): string {
  return createHash('sha256').update(`owner:${key}`).digest('hex').slice(0, 32);
}

/**
 * The secret a request presents: `Bearer <secret>`, or, where `basic` is allowed (the operators' dashboard in a
 * browser), HTTP Basic with it as the password. Tenants and scrapers use Bearer only: a browser sends Basic
 * credentials by itself, even on a request another site makes it send.
 */
function presentedSecret(header: string | undefined, basic: boolean): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer?.[1]) return bearer[1];
  const credentials = basic ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (credentials?.[1]) {
    const decoded = Buffer.from(credentials[1], 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    return password === '' ? undefined : password;
  }
  return undefined;
}

/** Whether a browser sent this request on behalf of another site (Fetch Metadata, else the Origin header). */
function isCrossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true;
  }
}

/** A body is coming: unless it is refused first, Node would read it all to keep the connection. */
function hasBody(request: FastifyRequest): boolean {
  return (
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0
  );
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
 * the body is read (and before 100 Continue), closing the connection when a body is on its way.
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
    // The body is invited last of all the checks before it: after access (an instance hook, run first) and
    // after the route's own (such as the cap on uploads in flight), so a refused body is never asked for.
    route.preParsing = [...[route.preParsing ?? []].flat(), inviteBody];
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
    const index = tenants.find(presentedSecret(request.headers.authorization, false));
    return index >= 0 ? (owners[index] ?? null) : null;
  };

  // Node answers `Expect: 100-continue` by itself before any hook runs, inviting a body that may be refused:
  // the request goes on without it, and 100 Continue is sent once every check has passed (inviteBody).
  app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response));

  app.decorateRequest('owner', null);
  // Who is calling, first of all: the rate limit (a hook of each route, after these) counts each tenant key
  // apart and everything else, refused callers included, by address.
  app.addHook('onRequest', async (request) => {
    request.owner = tenantOf(request);
  });
  // Whether they may: after every onRequest hook (security headers, CORS, load shedding, the rate limit) and
  // before the body is read.
  app.addHook('preParsing', async (request, reply) => {
    const refusal = request.is404 ? undefined : refusalOf(request);
    if (refusal) {
      if (refusal.challenge) reply.header('www-authenticate', refusal.challenge);
      return refuse(reply, request, refusal.problem);
    }
  });

  /** Why the caller may not call the matched route, or undefined when they may. */
  function refusalOf(request: FastifyRequest): { problem: HttpProblem; challenge?: string } | undefined {
    const access = request.routeOptions.config.access;
    switch (access) {
      case 'public':
        return undefined;
      case 'tenant':
        if (tenants.empty || request.owner) return undefined;
        return {
          problem: problems.unauthorized({ credential: 'api_key' }),
          challenge: 'Bearer',
        };
      case 'metrics':
        if (metricsTokens.empty)
          return options.metricsOffWithoutToken ? { problem: notFound(request) } : undefined;
        if (metricsTokens.find(presentedSecret(request.headers.authorization, false)) >= 0) return undefined;
        return {
          problem: problems.unauthorized({ credential: 'metrics_token' }),
          challenge: 'Bearer realm="metrics"',
        };
      case 'operator':
      case 'operator_write': {
        if (operators.find(presentedSecret(request.headers.authorization, true)) >= 0) {
          if (access === 'operator') return undefined;
          if (!options.adminDashboardWrite) {
            return { problem: problems.dashboardReadOnly() };
          }
          if (isCrossSite(request)) {
            return { problem: problems.crossSiteRequest() };
          }
          return undefined;
        }
        // Tenants are not told that the operators' pages exist.
        if (operators.empty || request.owner) return { problem: notFound(request) };
        return {
          problem: problems.unauthorized({ credential: 'operator_key' }),
          challenge: 'Basic realm="image-service operators"',
        };
      }
      default:
        // Unreachable while the start-up check holds; refused all the same.
        return { problem: notFound(request) };
    }
  }
});

/** Sends the 100 Continue a client waits for before its body, once nothing before the body refused it. */
async function inviteBody(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
}

const notFound = (request: FastifyRequest) => problems.notFound({ method: request.method, url: request.url });

/**
 * Answers a refused request here rather than by throwing (plugins with their own error handler, such as the
 * dashboard, must not reshape it). When a body is on its way the connection is closed, so it is never read.
 */
function refuse(reply: FastifyReply, request: FastifyRequest, problem: HttpProblem): FastifyReply {
  request.log.info({ code: problem.code, route: request.routeOptions.url }, problem.title);
  if (hasBody(request)) reply.header('connection', 'close');
  return sendProblem(reply, problem, request.url);
}
