import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { problems } from './problems.js';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * The request's Idempotency-Key scoped to its caller (hashed: keys are never stored), or undefined when
 * none was sent. A malformed key is refused before the body is read.
 */
export function idempotencyScopeOf(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? undefined : header.trim().replace(/^"(.*)"$/, '$1');
  if (!key || !KEY_PATTERN.test(key)) {
    throw problems.invalidIdempotencyKey();
  }
  return createHash('sha256')
    .update(`${request.owner ?? ''}\n${key}`)
    .digest('hex');
}
