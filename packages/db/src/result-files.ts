import type { Database } from './database.js';
import type { ResultFileDocument } from './documents.js';

/** The text of a kept result file per document: a tenth of MongoDB's 16 MB document limit, in UTF-8. */
export const RESULT_FILE_CHUNK_CHARS = 1_000_000;

/** What the request document records of its kept result file. */
export interface KeptResultFile {
  readonly chunks: number;
  readonly bytes: number;
}

const chunkId = (requestId: string, chunk: number) => `${requestId}:${String(chunk).padStart(6, '0')}`;

/**
 * Stores a finished request's result CSV as it streams, in documents of about `chunkChars` characters, each
 * written by key (so writing again replaces it). The request document is not touched: it names the file once
 * it is whole (see `markRequestCompleted`), and chunks no request names are removed with the request.
 */
export async function storeResultFile(
  db: Database,
  requestId: string,
  text: AsyncIterable<string | Buffer>,
  chunkChars = RESULT_FILE_CHUNK_CHARS,
): Promise<KeptResultFile> {
  let chunks = 0;
  let bytes = 0;
  let pending: string[] = [];
  let pendingChars = 0;
  const flush = async () => {
    const chunk = pending.join('');
    pending = [];
    pendingChars = 0;
    const document: ResultFileDocument = {
      _id: chunkId(requestId, chunks),
      request_id: requestId,
      text: chunk,
    };
    await db.resultFiles.replaceOne({ _id: document._id }, document, { upsert: true });
    chunks += 1;
    bytes += Buffer.byteLength(chunk);
  };
  for await (const piece of text) {
    const part = typeof piece === 'string' ? piece : piece.toString('utf8');
    pending.push(part);
    pendingChars += part.length;
    if (pendingChars >= chunkChars) await flush();
  }
  if (pendingChars > 0 || chunks === 0) await flush();
  return { chunks, bytes };
}

/** A kept result file's text, chunk after chunk, each read by key. */
export async function* readResultFile(
  db: Database,
  requestId: string,
  file: KeptResultFile,
): AsyncIterable<string> {
  for (let chunk = 0; chunk < file.chunks; chunk += 1) {
    const found = await db.resultFiles.findOne({ _id: chunkId(requestId, chunk) });
    if (!found) throw new Error(`the result file of request ${requestId} lacks its part ${chunk + 1}`);
    yield found.text;
  }
}

/** Removes a request's kept result file, whole or in part; none is no error. */
export async function deleteResultFile(db: Database, requestId: string): Promise<void> {
  await db.resultFiles.deleteMany({ request_id: requestId });
}
