import { createHash } from 'node:crypto';
import { CsvError, type ParsedProductCsv, parseProductCsv } from '@imgsvc/csv';
import { type AddressPolicy, checkUrlTarget } from '@imgsvc/fetching';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from './context.js';
import { HttpProblem } from './problem.js';

const FORM_FIELDS = new Set(['file', 'webhook_url']);
const MAX_WEBHOOK_URL_LENGTH = 2048;

export interface UploadForm {
  readonly csv: ParsedProductCsv;
  readonly webhookUrl: string | undefined;
  /** SHA-256 of the file's bytes and the webhook URL: what an Idempotency-Key promises to repeat. */
  readonly fingerprint: string;
}

function csvProblem(error: CsvError): HttpProblem {
  switch (error.code) {
    case 'csv_too_many_rows':
      return new HttpProblem(413, error.code, 'Too many rows', error.message);
    case 'csv_invalid_rows':
      return new HttpProblem(422, error.code, 'Invalid CSV rows', error.message, {
        errors: error.errors,
        total_errors: error.totalErrors,
      });
    case 'csv_header':
      return new HttpProblem(422, error.code, 'Invalid CSV header', error.message);
    case 'csv_empty':
    case 'csv_no_rows':
      return new HttpProblem(422, error.code, 'No products in the CSV', error.message);
    case 'csv_not_utf8':
    case 'csv_binary':
      return new HttpProblem(415, error.code, 'Not CSV text', error.message);
    default:
      return new HttpProblem(422, error.code, 'Unreadable CSV', error.message);
  }
}

/**
 * A webhook URL must be absolute http(s). One whose host is written as an address the fetch guard refuses is
 * refused now rather than failing at delivery; host names are checked when delivering.
 */
export function checkWebhookUrl(value: string, addressPolicy: AddressPolicy): string {
  const text = value.trim();
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    text.length > MAX_WEBHOOK_URL_LENGTH
  ) {
    throw new HttpProblem(
      400,
      'invalid_webhook_url',
      'Invalid webhook URL',
      'webhook_url must be an absolute http or https URL of at most 2048 characters',
    );
  }
  try {
    checkUrlTarget(url, addressPolicy);
  } catch (error) {
    throw new HttpProblem(
      400,
      'invalid_webhook_url',
      'Invalid webhook URL',
      `webhook_url: ${(error as Error).message}`,
    );
  }
  return url.href;
}

async function* hashing(chunks: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>) {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

/**
 * Reads the multipart form: exactly one CSV in "file", an optional webhook_url, nothing else. The file is
 * parsed while it streams in; the whole body is always read, so the answer never cuts the upload short.
 */
export async function readUploadForm(
  request: FastifyRequest,
  context: ApiContext,
  addressPolicy: AddressPolicy,
): Promise<UploadForm> {
  if (!request.isMultipart()) {
    throw new HttpProblem(
      415,
      'unsupported_media_type',
      'Unsupported media type',
      'send the CSV as multipart/form-data with a field named "file"',
    );
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
      failure ??= new HttpProblem(
        400,
        'unknown_field',
        'Unknown form field',
        `unexpected field "${part.fieldname.slice(0, 60)}"; the form takes "file" and an optional "webhook_url"`,
      );
      if (part.type === 'file') part.file.resume();
      continue;
    }
    if (part.type === 'file') {
      if (part.fieldname !== 'file') {
        part.file.resume();
        failure ??= new HttpProblem(
          400,
          'invalid_field',
          'Invalid form field',
          `"${part.fieldname}" must be text`,
        );
        continue;
      }
      if (fileCount++ > 0) {
        part.file.resume();
        failure = new HttpProblem(
          400,
          'too_many_files',
          'Too many files',
          'send exactly one file, in the field "file"',
        );
        continue;
      }
      try {
        csv = await parseProductCsv(hashing(part.file, fileHash), upload);
      } catch (error) {
        failure ??= error;
      }
      if (part.file.truncated) {
        failure = new HttpProblem(
          413,
          'upload_too_large',
          'Upload too large',
          `the CSV is larger than ${upload.maxUploadBytes} bytes`,
        );
      }
    } else if (part.fieldname === 'webhook_url') {
      try {
        const value = String(part.value ?? '');
        if (value.trim() !== '') webhookUrl = checkWebhookUrl(value, addressPolicy);
      } catch (error) {
        failure ??= error;
      }
    } else {
      failure ??= new HttpProblem(400, 'invalid_field', 'Invalid form field', '"file" must be a file part');
    }
  }
  if (failure instanceof CsvError) throw csvProblem(failure);
  if (failure) throw failure;
  if (!csv) {
    throw new HttpProblem(
      400,
      'missing_file',
      'Missing file',
      'send the CSV in a multipart field named "file"',
    );
  }
  const fingerprint = createHash('sha256')
    .update(`${fileHash.digest('hex')}\n${webhookUrl ?? ''}`)
    .digest('hex');
  return { csv, webhookUrl, fingerprint };
}
