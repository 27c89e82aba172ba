import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  beginIncomingRequest,
  claimIdempotencyKey,
  type Database,
  deleteRequest,
  findIdempotencyClaim,
  findRequest,
  type IdempotencyDocument,
  insertIncomingProducts,
  insertReceivedRequest,
  releaseIdempotencyClaim,
} from '@imgsvc/db';
import type { InputColumn, ProductInput, ReadingWarning, RequestStatus } from '@imgsvc/domain';
import {
  enqueueProcessImages,
  INLINE_PRODUCTS_MAX_CHARS,
  type ProductUrls,
  type Queues,
} from '@imgsvc/queue';

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
  /** The id the request will have (a retry names it before storing); a new one otherwise. */
  readonly requestId?: string;
  /** The request whose failed images this one retries. */
  readonly retryOf?: string;
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

/** How long the answer to a refused upload waits for its stored products to be removed. */
const TAKE_BACK_WAIT_MS = 2000;

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

/** What an upload brings besides its products, known once its whole file is read and checked. */
export interface UploadDetails {
  readonly fingerprint: string;
  readonly columns: readonly InputColumn[];
  readonly productCount: number;
  readonly imageCount: number;
  readonly webhookUrl: string | null;
  /** How the file was read where it needed a reading of its own, kept with the request and shown in its status. */
  readonly warnings?: readonly ReadingWarning[];
  /** The request whose failed images this one retries. */
  readonly retryOf?: string;
}

/**
 * One upload being received. Its products are stored as its file streams in (`take`), so that no file is
 * held whole in memory; the request itself is written, and queued, only once the whole file is valid
 * (`accept`). A file refused part-way, or a client gone, takes back what was stored (`abandon`); an API that
 * stops mid-upload leaves a note that the reconciler sweeps. When the upload will not be stored (an earlier
 * upload with its Idempotency-Key exists, or the queue is unreachable), `take` drops the products and `accept`
 * gives the answer the file would have had anyway. Taking back holds the answer for two seconds at most: the
 * request document is removed at once, the products of a large file partly in the background.
 */
export interface UploadIntake {
  take(products: readonly ProductInput[]): Promise<void>;
  accept(details: UploadDetails): Promise<AcceptedUpload>;
  abandon(): Promise<void>;
}

/**
 * Opens the intake of one upload before its file is read. Never fails itself: what keeps the upload from being
 * stored (an unreachable database or queue) is answered by `accept`, after the file was read whole and its
 * own problems reported first.
 */
export async function openUpload(
  connections: { readonly db: Database; readonly queues: Queues },
  caller: {
    readonly owner: string | null;
    readonly idempotencyScope?: string | undefined;
    /** The id the request will have; a new one unless given (a retry names it before storing). */
    readonly requestId?: string;
  },
): Promise<UploadIntake> {
  const { db, queues } = connections;
  const scope = caller.idempotencyScope;
  const notStored = (accept: (details: UploadDetails) => Promise<AcceptedUpload>): UploadIntake => ({
    take: async () => {},
    accept,
    abandon: async () => {},
  });
  try {
    if (scope) {
      // A replay is answered from MongoDB alone, so a retry during a Redis outage still gets its first answer.
      const earlier = await findIdempotencyClaim(db, scope);
      if (earlier) return notStored((details) => replay(db, earlier, details.fingerprint));
    }
    if (!(await queues.reachable(QUEUE_READY_WITHIN_MS))) {
      return notStored(async () => {
        throw new UploadRefused('queue_unavailable', 'the job queue is unreachable');
      });
    }
  } catch (error) {
    return notStored(async () => {
      throw error;
    });
  }

  const requestId = caller.requestId ?? randomUUID();
  let begun = false;
  // The request document goes at once (nothing of the upload is visible after). Its products go too, but the
  // answer waits for them only TAKE_BACK_WAIT_MS (a large file's take long on some servers); the rest goes on
  // in the background, and a removal cut short is finished by the reconciler's sweep.
  const takeBack = async () => {
    const removing = deleteRequest(db, requestId).catch(() => {});
    await db.requests.deleteOne({ _id: requestId }).catch(() => {});
    await Promise.race([removing, delay(TAKE_BACK_WAIT_MS, undefined, { ref: false })]);
  };
  // A small request's products also go with its process-images job, so that its fan-out reads none back.
  let inline: ProductUrls[] | undefined = [];
  let inlineChars = 0;
  return {
    async take(products) {
      if (!begun) {
        await beginIncomingRequest(db, requestId);
        begun = true;
      }
      await insertIncomingProducts(db, requestId, products);
      for (const product of products) {
        if (!inline) break;
        const entry = { row: product.row, urls: [...product.inputUrls] };
        inlineChars += JSON.stringify(entry).length + 1;
        if (inlineChars > INLINE_PRODUCTS_MAX_CHARS) inline = undefined;
        else inline.push(entry);
      }
    },
    async abandon() {
      if (begun) await takeBack();
    },
    async accept(details) {
      try {
        await insertReceivedRequest(db, {
          id: requestId,
          owner: caller.owner,
          columns: details.columns,
          productCount: details.productCount,
          imageCount: details.imageCount,
          webhookUrl: details.webhookUrl,
          ...(details.warnings ? { warnings: details.warnings } : {}),
          ...(details.retryOf ? { retryOf: details.retryOf } : {}),
        });
      } catch (error) {
        await takeBack();
        throw error;
      }
      if (scope) {
        const claim = await claimIdempotencyKey(db, { scope, requestId, fingerprint: details.fingerprint });
        if (claim !== 'claimed') {
          // Another upload with this key won the race: ours is withdrawn and the winner's answer given.
          await takeBack();
          return replay(db, claim, details.fingerprint);
        }
      }
      try {
        await enqueueProcessImages(
          queues,
          requestId,
          inline?.length === details.productCount ? inline : undefined,
        );
      } catch (error) {
        await takeBack();
        if (scope) await releaseIdempotencyClaim(db, scope, requestId).catch(() => {});
        throw new UploadRefused(
          'queue_unavailable',
          `the job queue refused request ${requestId}, taken back`,
          {
            cause: error,
          },
        );
      }
      return { requestId, status: 'pending', replayed: false };
    },
  };
}

/** Products stored per database round trip when an upload's products are all at hand. */
const TAKE_BATCH = 1000;

/**
 * Stores an upload whose products are all at hand as a pending request and queues its processing, exactly once
 * per Idempotency-Key: an earlier upload with the key is answered again, and of uploads racing with one key
 * exactly one is stored. When the job cannot be queued the request is taken back, so none waits forever
 * without one. (The API streams its uploads through `openUpload` instead.)
 */
export async function acceptUpload(
  connections: { readonly db: Database; readonly queues: Queues },
  upload: Upload,
): Promise<AcceptedUpload> {
  const intake = await openUpload(connections, upload);
  try {
    for (let start = 0; start < upload.products.length; start += TAKE_BATCH) {
      await intake.take(upload.products.slice(start, start + TAKE_BATCH));
    }
  } catch (error) {
    await intake.abandon();
    throw error;
  }
  return intake.accept({ ...upload, productCount: upload.products.length });
}
