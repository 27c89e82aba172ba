import type {
  FailuresByCode,
  ImageFailure,
  InputColumn,
  ReadingWarning,
  RequestCounts,
  RequestStatus,
  RequestTotals,
} from '@imgsvc/domain';

export type WebhookState = 'pending' | 'delivered' | 'failed';

/** The counts as stored: requests finished before failures were counted by code lack them. */
export type StoredCounts = Omit<RequestCounts, 'failures_by_code'> & {
  readonly failures_by_code?: FailuresByCode;
};

export interface WebhookDelivery {
  readonly url: string;
  readonly state: WebhookState;
  readonly event: string | null;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly delivered_at: Date | null;
}

/** One upload. Small and bounded whatever the CSV size: products live in their own collection. */
export interface RequestDocument {
  readonly _id: string;
  /** Hash of the API key that created it; null when the API runs without keys. */
  readonly owner: string | null;
  readonly status: RequestStatus;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly started_at: Date | null;
  readonly finished_at: Date | null;
  readonly columns: readonly InputColumn[];
  readonly totals: RequestTotals;
  readonly counts: StoredCounts;
  readonly webhook: WebhookDelivery | null;
  readonly error_message: string | null;
  /** The request this one retries the failed images of (POST /api/requests/{id}/retry). */
  readonly retry_of?: string;
  /** The request made to retry this one's failed images. */
  readonly retried_by?: string;
  /** How its file was read where it needed a reading of its own (absent when none did). */
  readonly warnings?: readonly ReadingWarning[];
  /**
   * When its owner deleted it (DELETE /api/requests/{id}) or RETENTION_DAYS expired it: from then on it is gone
   * for every reader, and the worker's sweep removes it with its products and the outputs nobody else lists.
   */
  readonly deleted_at?: Date;
  /**
   * Its result CSV, kept when it completed (requests of more than `KEPT_RESULT_MIN_PRODUCTS` products): a
   * download streams it instead of joining every product with its result again.
   */
  readonly result_file?: { readonly chunks: number; readonly bytes: number };
}

/**
 * A request being received: its products are stored batch by batch while its file streams in, and its request
 * document is written once the whole file is valid, which removes this one. One left behind (an API that
 * stopped mid-upload) names products that no request owns, which the reconciler removes.
 */
export interface IncomingRequestDocument {
  /** The request id its products are stored under. */
  readonly _id: string;
  readonly started_at: Date;
}

/** One CSV row, as uploaded; never changed afterwards. */
export interface ProductDocument {
  readonly _id: string;
  readonly request_id: string;
  readonly row: number;
  readonly serial_number: number;
  readonly product_name: string;
  readonly input_urls: readonly string[];
  /** The URL cell as it was written, echoed in the result; absent from products stored before it was kept. */
  readonly input_cell?: string;
}

/**
 * What became of one product's images, inserted once by its job (same id as the product). Results are
 * inserted, never updated: a second insert of the same id fails, so a rerun cannot record twice, and
 * MongoDB-compatible servers that scan a collection for every update (FerretDB on SQLite) stay fast.
 */
export interface ProductResultDocument {
  readonly _id: string;
  readonly request_id: string;
  readonly row: number;
  /** Aligned with the product's input_urls: the stored image's URL, or null where that image failed. */
  readonly output_urls: readonly (string | null)[];
  /** The outputs' keys (each once), indexed: which results list an output. Absent from older results. */
  readonly output_keys?: readonly string[];
  readonly errors: readonly ImageFailure[];
  /**
   * Aligned with output_urls: the bytes downloaded and the bytes of the output, each null where not known (an
   * image a 304 saved before sizes were kept); null where the image failed. Absent from older results.
   */
  readonly image_sizes?: readonly (ImageSizes | null)[];
  readonly recorded_at: Date;
}

/** What one image weighed before and after. */
export interface ImageSizes {
  readonly input_bytes: number | null;
  readonly output_bytes: number | null;
}

/** A part of a finished request's result CSV, in order of `_id` (`<request id>:<part, zero-padded>`). */
export interface ResultFileDocument {
  readonly _id: string;
  readonly request_id: string;
  readonly text: string;
}

/** An Idempotency-Key in use: its scope (caller and key, hashed) and the request it created. */
export interface IdempotencyDocument {
  readonly _id: string;
  readonly request_id: string;
  /** Hash of what was uploaded with the key: the same key with other content is refused. */
  readonly fingerprint: string;
  readonly created_at: Date;
}

/** The id of a product and of its result: zero-padded, so that ids sort in row order. */
export function productId(requestId: string, row: number): string {
  return `${requestId}:${String(row).padStart(9, '0')}`;
}

/**
 * A request's products (or results) from a row on, by `_id` alone: a product's id is its request's id, a colon
 * and its row written with nine digits, so a request's ids sort in row order and lie between
 * `productId(requestId, fromRow)` and `${requestId};` (";" follows ":"). Every MongoDB-compatible server reads
 * such a range from the primary key, with no index of its own to keep up on every insert.
 */
export function rowsOf(requestId: string, fromRow = 1): { _id: { $gte: string; $lt: string } } {
  return { _id: { $gte: productId(requestId, fromRow), $lt: `${requestId};` } };
}
