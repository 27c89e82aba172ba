import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem, PROBLEM_CONTENT_TYPE, problemBody } from '../problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Hash of the caller's key; null when the API runs without keys. Requests belong to their owner. */
    owner: string | null;
  }
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/** What a request records about its creator: a hash, never the key. */
export function ownerOf(key: string): string {
  return createHash('sha256').update(`owner:${key}`).digest('hex').slice(0, 32);
}

/** The key a request presents: `Bearer <key>`, or HTTP Basic with the key as password (for browsers). */
function presentedKey(header: string): string | undefined {
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

const PROTECTED = /^\/(api|admin)(\/|$)/;

/**
 * With API_KEYS set, every /api and /admin route needs a key: `Authorization: Bearer <key>` (or, for the queue
 * dashboard in a browser, HTTP Basic with the key as password). Keys are compared as SHA-256 digests in constant
 * time.
 */
export const apiKeys = fp(async (app: FastifyInstance, options: { keys: readonly string[] }) => {
  const known = options.keys.map((key) => ({ digest: digest(key), owner: ownerOf(key) }));
  app.decorateRequest('owner', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (known.length === 0 || !PROTECTED.test(request.url)) return;
    const key = presentedKey(request.headers.authorization ?? '');
    const presented = key ? digest(key) : undefined;
    let owner: string | null = null;
    for (const key of known) {
      if (presented && timingSafeEqual(presented, key.digest)) owner = key.owner;
    }
    if (!owner) {
      // Answered here rather than thrown: plugins with their own error handler (the dashboard) must not
      // reshape it.
      const problem = new HttpProblem(
        401,
        'unauthorized',
        'Unauthorized',
        'send a valid API key as "Authorization: Bearer <key>"',
      );
      return reply
        .code(401)
        .header(
          'www-authenticate',
          request.url.startsWith('/admin') ? 'Basic realm="image-service"' : 'Bearer',
        )
        .type(PROBLEM_CONTENT_TYPE)
        .send(problemBody(problem, request.url));
    }
    request.owner = owner;
  });
});
