import { type Database, findRequest, type RequestDocument } from '@imgsvc/db';
import { isFinished } from '@imgsvc/domain';

export interface RequestCacheOptions {
  /** How long a finished request's document is reused: it only changes as its webhook is delivered. */
  readonly finishedTtlMs: number;
  /** How long a running request's document is reused: its status changes, its counts are read live elsewhere. */
  readonly runningTtlMs: number;
  readonly maxEntries: number;
}

/**
 * Request documents for the status route, kept briefly in this process. Pollers ask many times a second; the
 * database answers once per interval per request. Other routes read the database directly.
 */
export class RequestCache {
  private readonly entries = new Map<string, { document: RequestDocument; expires: number }>();
  /** Reads under way: callers that miss together share one (a burst of streams opening at once, say). */
  private readonly reading = new Map<string, Promise<RequestDocument | null>>();

  constructor(
    private readonly db: Database,
    private readonly options: RequestCacheOptions,
  ) {}

  async find(id: string): Promise<RequestDocument | null> {
    const cached = this.entries.get(id);
    if (cached && cached.expires > Date.now()) return cached.document;
    const underWay = this.reading.get(id);
    if (underWay) return underWay;
    const read = this.read(id).finally(() => this.reading.delete(id));
    this.reading.set(id, read);
    return read;
  }

  /** Drops a request this process changed (deleted), so that it is read again. */
  forget(id: string): void {
    this.entries.delete(id);
  }

  private async read(id: string): Promise<RequestDocument | null> {
    const now = Date.now();
    const document = await findRequest(this.db, id);
    this.entries.delete(id);
    if (document) {
      const ttl = isFinished(document.status) ? this.options.finishedTtlMs : this.options.runningTtlMs;
      this.entries.set(id, { document, expires: now + ttl });
      // A Map keeps insertion order: the first entries are the oldest.
      while (this.entries.size > this.options.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest === undefined) break;
        this.entries.delete(oldest);
      }
    }
    return document;
  }
}
