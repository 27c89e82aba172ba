import {
  type Collection,
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoOperationTimeoutError,
  MongoServerSelectionError,
} from 'mongodb';
import type { IdempotencyDocument, ProductDocument, RequestDocument } from './documents.js';

export interface Database {
  readonly client: MongoClient;
  readonly requests: Collection<RequestDocument>;
  readonly products: Collection<ProductDocument>;
  readonly idempotencyKeys: Collection<IdempotencyDocument>;
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_DATABASE_NAME = 'image_service';

/** The database named in the URL's path, or image_service. */
export function databaseNameOf(url: string): string {
  const path = url.replace(/^mongodb(\+srv)?:\/\/[^/]*/, '').replace(/^\//, '');
  const name = decodeURIComponent(path.split('?')[0] ?? '');
  return name === '' ? DEFAULT_DATABASE_NAME : name;
}

export async function connectDatabase(url: string, appName: string): Promise<Database> {
  const client = new MongoClient(url, {
    appName,
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    maxPoolSize: 20,
  });
  await client.connect();
  const db = client.db(databaseNameOf(url));
  const database: Database = {
    client,
    requests: db.collection<RequestDocument>('requests'),
    products: db.collection<ProductDocument>('products'),
    idempotencyKeys: db.collection<IdempotencyDocument>('idempotency_keys'),
    async ping(timeoutMs) {
      await db.command({ ping: 1 }, { timeoutMS: timeoutMs });
    },
    close: () => client.close(),
  };
  await ensureIndexes(database);
  return database;
}

async function ensureIndexes(database: Database): Promise<void> {
  await database.products.createIndex({ request_id: 1, row: 1 }, { unique: true, name: 'request_row' });
  await database.requests.createIndex({ owner: 1, created_at: -1 }, { name: 'owner_created' });
}

const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|EPIPE|interrupted|timed out|server selection|database is locked|SQLITE_BUSY|not primary|shutdown in progress/i;

/**
 * True for failures that mean "the database cannot serve right now" rather than "this request is wrong":
 * no server reachable, a dropped connection, a timeout, or a busy storage engine (also when wrapped, as a
 * bulk write wraps the network error that stopped it).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 4; depth += 1) {
    if (current instanceof MongoNetworkError || current instanceof MongoServerSelectionError) return true;
    if (current instanceof MongoOperationTimeoutError) return true;
    if (current instanceof MongoError) {
      if (current.hasErrorLabel('RetryableWriteError') || UNAVAILABLE.test(current.message)) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
