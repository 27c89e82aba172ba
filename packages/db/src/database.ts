import { setTimeout as delay } from 'node:timers/promises';
import {
  type Collection,
  MongoClient,
  type MongoClientOptions,
  MongoError,
  MongoNetworkError,
  MongoOperationTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import type {
  IdempotencyDocument,
  IncomingRequestDocument,
  ProductDocument,
  ProductResultDocument,
  RequestDocument,
  ResultFileDocument,
} from './documents.js';

export interface Database {
  readonly client: MongoClient;
  readonly requests: Collection<RequestDocument>;
  readonly products: Collection<ProductDocument>;
  readonly results: Collection<ProductResultDocument>;
  readonly idempotencyKeys: Collection<IdempotencyDocument>;
  /** Finished requests' result CSVs, kept in parts (`result-files.ts`). */
  readonly resultFiles: Collection<ResultFileDocument>;
  /** Requests whose products are being stored as their file streams in; gone once the request is stored. */
  readonly incoming: Collection<IncomingRequestDocument>;
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_DATABASE_NAME = 'image_service';

/** How long a program that started while the database was down waits between attempts to connect. */
const CONNECT_RETRY_MS = 2000;

/** The database named in the URL's path, or image_service. */
function databaseNameOf(url: string): string {
  const path = url.replace(/^mongodb(\+srv)?:\/\/[^/]*/, '').replace(/^\//, '');
  const name = decodeURIComponent(path.split('?')[0] ?? '');
  return name === '' ? DEFAULT_DATABASE_NAME : name;
}

function databaseFor(client: MongoClient, url: string): Database {
  const db = client.db(databaseNameOf(url));
  return {
    client,
    requests: db.collection<RequestDocument>('requests'),
    products: db.collection<ProductDocument>('products'),
    results: db.collection<ProductResultDocument>('product_results'),
    idempotencyKeys: db.collection<IdempotencyDocument>('idempotency_keys'),
    resultFiles: db.collection<ResultFileDocument>('result_files'),
    incoming: db.collection<IncomingRequestDocument>('incoming_requests'),
    async ping(timeoutMs) {
      await db.command({ ping: 1 }, { timeoutMS: timeoutMs });
    },
    close: () => client.close(),
  };
}

function clientFor(url: string, appName: string, extra: MongoClientOptions = {}): MongoClient {
  return new MongoClient(url, {
    ...extra,
    appName,
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    // A server that stops answering mid-operation fails the operation instead of holding it for minutes.
    socketTimeoutMS: 30_000,
    maxPoolSize: 20,
  });
}

/**
 * Connects and makes sure the indexes exist; fails if the server cannot be reached. `extra` adds the driver's
 * options (tests watch the commands sent with `monitorCommands`).
 */
export async function connectDatabase(
  url: string,
  appName: string,
  extra: MongoClientOptions = {},
): Promise<Database> {
  const client = clientFor(url, appName, extra);
  await client.connect();
  const database = databaseFor(client, url);
  await ensureIndexes(database);
  return database;
}

/**
 * For long-running programs: returns at once, whether or not the server is up. Connects and ensures the indexes
 * in the background, retried until both are done; once connected, the driver reconnects by itself after an
 * outage.
 */
export function openDatabase(url: string, appName: string, onRetry: (error: unknown) => void): Database {
  const client = clientFor(url, appName);
  const database = databaseFor(client, url);
  let closed = false;
  void (async () => {
    while (!closed) {
      try {
        // A client whose first connection failed keeps its closed topology, and every operation after fails
        // with "Topology is closed" however long the server has been back; connecting again opens a new one.
        await client.connect();
        await ensureIndexes(database);
        return;
      } catch (error) {
        if (closed) return;
        onRetry(error);
        await delay(CONNECT_RETRY_MS, undefined, { ref: false });
      }
    }
  })();
  return {
    ...database,
    close: async () => {
      closed = true;
      await database.close();
    },
  };
}

/** What MongoDB answers when asked to drop an index of a collection that does not exist, or one it lacks. */
const NAMESPACE_NOT_FOUND = 26;
const INDEX_NOT_FOUND = 27;

async function ensureIndexes(database: Database): Promise<void> {
  // Products and results are read by ranges of their ids (`rowsOf`), which the primary key serves: an index on
  // (request_id, row), which earlier versions made, only costs every insert (10–30% of FerretDB's work storing
  // a 100,000-row upload, measured) and goes.
  for (const collection of [database.products, database.results]) {
    await collection.dropIndex('request_row').catch((error: unknown) => {
      const absent =
        error instanceof MongoServerError &&
        [NAMESPACE_NOT_FOUND, INDEX_NOT_FOUND].includes(Number(error.code));
      if (!absent) throw error;
    });
  }
  await database.results.createIndex({ output_keys: 1 }, { name: 'output_keys' });
  await database.requests.createIndex({ owner: 1, created_at: -1 }, { name: 'owner_created' });
  await database.requests.createIndex({ status: 1, created_at: 1 }, { name: 'status_created' });
  await database.incoming.createIndex({ started_at: 1 }, { name: 'started' });
  await database.resultFiles.createIndex({ request_id: 1 }, { name: 'request' });
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
    // The topology a failed first connection left behind, until openDatabase's next attempt replaces it.
    if (current instanceof MongoTopologyClosedError) return true;
    if (current instanceof MongoError) {
      if (current.hasErrorLabel('RetryableWriteError') || UNAVAILABLE.test(current.message)) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
