import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem } from '../problem.js';

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

/**
 * With API_KEYS set, every /api route needs `Authorization: Bearer <key>`; keys are compared as SHA-256
 * digests in constant time.
 */
export const apiKeys = fp(async (app: FastifyInstance, options: { keys: readonly string[] }) => {
  const known = options.keys.map((key) => ({ digest: digest(key), owner: ownerOf(key) }));
  app.decorateRequest('owner', null);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (known.length === 0 || !request.url.startsWith('/api/')) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const presented = match?.[1] ? digest(match[1]) : undefined;
    let owner: string | null = null;
    for (const key of known) {
      if (presented && timingSafeEqual(presented, key.digest)) owner = key.owner;
    }
    if (!owner) {
      throw new HttpProblem(
        401,
        'unauthorized',
        'Unauthorized',
        'send a valid API key as "Authorization: Bearer <key>"',
        {},
        { 'www-authenticate': 'Bearer' },
      );
    }
    request.owner = owner;
  });
});
