import { randomUUID } from 'node:crypto';
import {
  claimIdempotencyKey,
  type Database,
  deleteRequest,
  findIdempotencyClaim,
  findRequest,
  type IdempotencyDocument,
  insertRequestWithProducts,
  releaseIdempotencyClaim,
} from '@imgsvc/db';
import type { InputColumn, ProductInput, RequestStatus } from '@imgsvc/domain';
import { enqueueProcessImages, type Queues } from '@imgsvc/queue';

/** A checked upload, ready to be stored: the CSV's products and what came with them. */
export interface Upload {
  /** Hash of the caller's API key; null when the API runs without keys. */
  readonly owner: string | null;
  /** The caller's Idempotency-Key, scoped to the caller and hashed; undefined when none was sent. */
  readonly idempotencyScope?: string | undefined;
  /** Hash of what was uploaded (file and webhook URL): the same key with other content is refused. */
  readonly fingerprint: string;
  readonly columns: readonly InputColumn[];
  readonly products: readonly ProductInput[];
  readonly imageCount: number;
  readonly webhookUrl: string | null;
}

export interface AcceptedUpload {
  readonly requestId: string;
  readonly status: RequestStatus;
  /** True when an earlier upload with the same Idempotency-Key is answered again. */
  readonly replayed: boolean;
}

export type UploadRefusalCode = 'idempotency_key_reused' | 'idempotency_key_in_use' | 'queue_unavailable';

/** Why an upload that passed every check was still not accepted; nothing of it is stored. */
export class UploadRefused extends Error {
  override name = 'UploadRefused';
  constructor(
    readonly code: UploadRefusalCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** How long an upload waits for a queue connection that is not ready (starting up, or Redis down). */
const QUEUE_READY_WITHIN_MS = 2000;

/** The answer an earlier upload with the same key got, or why this one cannot have it. */
async function replay(
  db: Database,
  claim: IdempotencyDocument,
  fingerprint: string,
): Promise<AcceptedUpload> {
  if (claim.fingerprint !== fingerprint) {
    throw new UploadRefused('idempotency_key_reused', 'the key was used with another file or webhook URL');
  }
  const original = await findRequest(db, claim.request_id);
  if (!original)
    throw new UploadRefused('idempotency_key_in_use', 'the first upload with the key is being stored');
  return { requestId: original._id, status: original.status, replayed: true };
}

/**
 * Stores an upload as a pending request and queues its processing, exactly once per Idempotency-Key: an
 * earlier upload with the key is answered again, and of uploads racing with one key exactly one is stored.
 * When the job cannot be queued the request is taken back, so none waits forever without one.
 */
export async function acceptUpload(
  connections: { readonly db: Database; readonly queues: Queues },
  upload: Upload,
): Promise<AcceptedUpload> {
  const { db, queues } = connections;
  const scope = upload.idempotencyScope;
  if (scope) {
    // A replay is answered from MongoDB alone, so a retry during a Redis outage still gets its first answer.
    const earlier = await findIdempotencyClaim(db, scope);
    if (earlier) return replay(db, earlier, upload.fingerprint);
  }
  if (!(await queues.reachable(QUEUE_READY_WITHIN_MS))) {
    throw new UploadRefused('queue_unavailable', 'the job queue is unreachable');
  }
  const requestId = randomUUID();
  await insertRequestWithProducts(db, {
    id: requestId,
    owner: upload.owner,
    columns: upload.columns,
    products: upload.products,
    imageCount: upload.imageCount,
    webhookUrl: upload.webhookUrl,
  });
  if (scope) {
    const claim = await claimIdempotencyKey(db, { scope, requestId, fingerprint: upload.fingerprint });
    if (claim !== 'claimed') {
      // Another upload with this key won the race: ours is withdrawn and the winner's answer given.
      await deleteRequest(db, requestId);
      return replay(db, claim, upload.fingerprint);
    }
  }
  try {
    await enqueueProcessImages(queues, requestId);
  } catch (error) {
    await deleteRequest(db, requestId).catch(() => {});
    if (scope) await releaseIdempotencyClaim(db, scope, requestId).catch(() => {});
    throw new UploadRefused('queue_unavailable', `the job queue refused request ${requestId}, taken back`, {
      cause: error,
    });
  }
  return { requestId, status: 'pending', replayed: false };
}
