import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import { registerWithAccess } from './route-access.js';

/**
 * The headers helmet's defaults set, worked out once: helmet's own middleware (and @fastify/helmet, which
 * builds it again for every request) would redo the same work on every answer. Over plain HTTP (a
 * PUBLIC_BASE_URL that is not https) neither `upgrade-insecure-requests`, HSTS nor COOP is sent: a browser told to
 * upgrade fetches every script and style of /docs over HTTPS, which such a server does not answer, and shows
 * a blank page.
 */
function securityHeaders(secure: boolean): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader() {},
  };
  helmet({
    contentSecurityPolicy: {
      directives: {
        // helmet's defaults allow fonts and styles from any https: address; nothing here needs them.
        fontSrc: ["'self'", 'data:'],
        styleSrc: ["'self'", "'unsafe-inline'"],
        upgradeInsecureRequests: secure ? [] : null,
      },
    },
    strictTransportSecurity: secure,
    // Browsers ignore (and complain of) an opener policy from an origin that is not secure.
    crossOriginOpenerPolicy: secure,
  })({} as never, response as never, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}

/** Security headers on every answer, and CORS for the browser origins the configuration names (none by default). */
export const httpSecurity = fp(
  async (app: FastifyInstance, options: { corsOrigins: readonly string[]; publicBaseUrl: string }) => {
    // Every page has this policy, the reference at /docs among them; /images relaxes CORP.
    const headers = securityHeaders(servedOverHttps(options.publicBaseUrl));
    app.addHook('onRequest', async (_request, reply) => {
      reply.headers(headers);
    });
    // Its one route answers CORS preflights, which carry no credentials by design.
    await registerWithAccess(
      app,
      () => 'public',
      () =>
        app.register(cors, {
          origin: options.corsOrigins.length > 0 ? [...options.corsOrigins] : false,
          methods: ['GET', 'POST'],
          allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
          exposedHeaders: ['X-Request-Id', 'Retry-After', 'Location', 'Idempotent-Replayed'],
          maxAge: 600,
        }),
    );
  },
);

/** Whether browsers reach the service over HTTPS (directly or through a proxy that ends TLS). */
export function servedOverHttps(publicBaseUrl: string): boolean {
  return publicBaseUrl.startsWith('https:');
}
