import type { Database } from './database.js';
import type { ResultFileDocument } from './documents.js';

/** The characters of a kept result file per document: at most 4 MB in UTF-8, a quarter of MongoDB's document limit. */
export const RESULT_FILE_CHUNK_CHARS = 1_000_000;

/** What the request document records of its kept result file. */
export interface KeptResultFile {
  readonly chunks: number;
  readonly bytes: number;
}

const chunkId = (requestId: string, chunk: number) => `${requestId}:${String(chunk).padStart(6, '0')}`;

/**
 * Where to end a part of at most `chunkChars` characters of `text`: never between the two halves of a character
 * outside the Basic Multilingual Plane, which stored apart would each become U+FFFD.
 */
function partEnd(text: string, chunkChars: number): number {
  const code = text.charCodeAt(chunkChars - 1);
  return code >= 0xd800 && code <= 0xdbff ? chunkChars - 1 : chunkChars;
}

/**
 * Stores a finished request's result CSV as it streams, in documents of `chunkChars` characters (the last one
 * shorter), each written by key: the same text is always cut the same way, so writing it again replaces every
 * part. The request document is not touched: it names the file once it is whole (see `markRequestCompleted`),
 * and parts no request names are removed with the request.
 */
export async function storeResultFile(
  db: Database,
  requestId: string,
  text: AsyncIterable<string | Buffer>,
  chunkChars = RESULT_FILE_CHUNK_CHARS,
): Promise<KeptResultFile> {
  let chunks = 0;
  let bytes = 0;
  let pending = '';
  const write = async (part: string) => {
    const document: ResultFileDocument = {
      _id: chunkId(requestId, chunks),
      request_id: requestId,
      text: part,
    };
    await db.resultFiles.replaceOne({ _id: document._id }, document, { upsert: true });
    chunks += 1;
    bytes += Buffer.byteLength(part);
  };
  for await (const piece of text) {
    pending += typeof piece === 'string' ? piece : piece.toString('utf8');
    while (pending.length >= chunkChars) {
      const end = partEnd(pending, chunkChars);
      await write(pending.slice(0, end));
      pending = pending.slice(end);
    }
  }
  if (pending.length > 0 || chunks === 0) await write(pending);
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
