import { createHash } from 'node:crypto';
import { CsvError, type ParsedProductCsv, type ProductSink, parseProductCsv } from '@imgsvc/csv';
import type { AddressPolicy } from '@imgsvc/fetching';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from './context.js';
import { type HttpProblem, problems } from './problems.js';
import { checkWebhookUrl } from './webhook-url.js';

const FORM_FIELDS = new Set(['file', 'webhook_url']);

export interface UploadForm {
  readonly csv: ParsedProductCsv;
  readonly webhookUrl: string | undefined;
  /** SHA-256 of the file's bytes and the webhook URL: what an Idempotency-Key promises to repeat. */
  readonly fingerprint: string;
}

function csvProblem(error: CsvError): HttpProblem {
  const detail = error.message;
  switch (error.code) {
    case 'csv_too_many_rows':
      return problems.csvTooManyRows({ detail });
    case 'csv_invalid_rows':
      return problems.csvInvalidRows({ detail, errors: error.errors, totalErrors: error.totalErrors });
    case 'csv_header':
      return problems.csvInvalidHeader({ detail });
    case 'csv_empty':
    case 'csv_no_rows':
      return problems.csvNoProducts({ code: error.code, detail });
    case 'csv_not_utf8':
    case 'csv_binary':
      return problems.csvNotText({ code: error.code, detail });
    case 'csv_malformed':
      return problems.csvMalformed({ detail });
  }
}

async function* hashing(chunks: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>) {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

/**
 * Reads the multipart form: exactly one CSV in "file", an optional webhook_url, nothing else. The file is
 * parsed while it streams in, its checked products handed to `sink` as they come; the whole body is always
 * read, so the answer never cuts the upload short.
 */
export async function readUploadForm(
  request: FastifyRequest,
  context: ApiContext,
  addressPolicy: AddressPolicy,
  sink?: ProductSink,
): Promise<UploadForm> {
  if (!request.isMultipart()) {
    throw problems.unsupportedMediaType();
  }
  const { upload } = context.config;
  let csv: ParsedProductCsv | undefined;
  let failure: unknown;
  let webhookUrl: string | undefined;
  let fileCount = 0;
  const fileHash = createHash('sha256');
  const parts = request.parts({
    limits: { fileSize: upload.maxUploadBytes, files: 2, fields: 10, fieldSize: 8192, parts: 12 },
  });
  for await (const part of parts) {
    if (!FORM_FIELDS.has(part.fieldname)) {
      failure ??= problems.unknownField({ field: part.fieldname });
      if (part.type === 'file') part.file.resume();
      continue;
    }
    if (part.type === 'file') {
      if (part.fieldname !== 'file') {
        part.file.resume();
        failure ??= problems.invalidField({ field: part.fieldname, mustBe: 'text' });
        continue;
      }
      if (fileCount++ > 0) {
        part.file.resume();
        failure = problems.tooManyFiles();
        continue;
      }
      try {
        csv = await parseProductCsv(hashing(part.file, fileHash), upload, sink);
      } catch (error) {
        failure ??= error;
      }
      if (part.file.truncated) {
        failure = problems.uploadTooLarge({ maxBytes: upload.maxUploadBytes });
      }
    } else if (part.fieldname === 'webhook_url') {
      try {
        const value = String(part.value ?? '');
        if (value.trim() !== '') webhookUrl = checkWebhookUrl(value, addressPolicy);
      } catch (error) {
        failure ??= error;
      }
    } else {
      failure ??= problems.invalidField({ field: 'file', mustBe: 'a file part' });
    }
  }
  if (failure instanceof CsvError) throw csvProblem(failure);
  if (failure) throw failure;
  if (!csv) {
    throw problems.missingFile();
  }
  const fingerprint = createHash('sha256')
    .update(`${fileHash.digest('hex')}\n${webhookUrl ?? ''}`)
    .digest('hex');
  return { csv, webhookUrl, fingerprint };
}
