import { MongoServerError } from 'mongodb';
import type { Database } from './database.js';
import type { IdempotencyDocument } from './documents.js';

/** How long an Idempotency-Key answers with its first request; after that the key may be used afresh. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 60 * 60 * 1000;

const DUPLICATE_KEY = 11000;

/** The live claim on a key, or null; an expired claim is removed and counts as none. */
export async function findIdempotencyClaim(
  db: Database,
  scope: string,
  now = new Date(),
): Promise<IdempotencyDocument | null> {
  const claim = await db.idempotencyKeys.findOne({ _id: scope });
  if (claim && now.getTime() - claim.created_at.getTime() > IDEMPOTENCY_KEY_LIFETIME_MS) {
    await db.idempotencyKeys.deleteOne({ _id: scope, request_id: claim.request_id });
    return null;
  }
  return claim;
}

/**
 * Ties a key to a request. The key's scope is the document id, so of two uploads racing with one key exactly
 * one wins; the loser gets the winner's claim back.
 */
export async function claimIdempotencyKey(
  db: Database,
  claim: { scope: string; requestId: string; fingerprint: string },
  now = new Date(),
): Promise<'claimed' | IdempotencyDocument> {
  try {
    await db.idempotencyKeys.insertOne({
      _id: claim.scope,
      request_id: claim.requestId,
      fingerprint: claim.fingerprint,
      created_at: now,
    });
    return 'claimed';
  } catch (error) {
    if (!(error instanceof MongoServerError) || error.code !== DUPLICATE_KEY) throw error;
    const winner = await db.idempotencyKeys.findOne({ _id: claim.scope });
    if (!winner) throw error;
    return winner;
  }
}

export async function releaseIdempotencyClaim(db: Database, scope: string, requestId: string): Promise<void> {
  await db.idempotencyKeys.deleteOne({ _id: scope, request_id: requestId });
}
