import { randomUUID } from 'node:crypto';
import { CsvError, type ParsedProductCsv, parseProductCsv } from '@imgsvc/csv';
import { deleteRequest, insertRequestWithProducts } from '@imgsvc/db';
import { enqueueProcessImages } from '@imgsvc/queue';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';
import { requestLinks } from '../request-view.js';

const FORM_FIELDS = new Set(['file', 'webhook_url']);
const MAX_WEBHOOK_URL_LENGTH = 2048;

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
    default:
      return new HttpProblem(422, error.code, 'Unreadable CSV', error.message);
  }
}

export function checkWebhookUrl(value: string): string {
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
  return url.href;
}

interface UploadForm {
  readonly csv: ParsedProductCsv;
  readonly webhookUrl: string | undefined;
}

/** Reads the multipart form: exactly one CSV in "file", an optional webhook_url, nothing else. */
async function readUploadForm(request: FastifyRequest, context: ApiContext): Promise<UploadForm> {
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
  const parts = request.parts({
    limits: { fileSize: upload.maxUploadBytes, files: 1, fields: 10, fieldSize: 8192, parts: 12 },
  });
  for await (const part of parts) {
    if (!FORM_FIELDS.has(part.fieldname)) {
      failure ??= new HttpProblem(
        400,
        'unknown_field',
        'Unknown form field',
        `unexpected field "${part.fieldname}"; the form takes "file" and an optional "webhook_url"`,
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
      try {
        csv = await parseProductCsv(part.file, upload);
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
        if (value.trim() !== '') webhookUrl = checkWebhookUrl(value);
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
  return { csv, webhookUrl };
}

export async function uploadRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.post('/api/upload', async (request, reply) => {
    const form = await readUploadForm(request, context);
    const id = randomUUID();
    const webhookUrl = form.webhookUrl ?? context.config.webhook.defaultUrl ?? null;
    await insertRequestWithProducts(context.db, {
      id,
      owner: request.owner,
      columns: form.csv.columns,
      products: form.csv.products,
      imageCount: form.csv.imageCount,
      webhookUrl,
    });
    try {
      await enqueueProcessImages(context.queues, id);
    } catch (error) {
      // Without its job the request would wait forever: take it back and say so.
      await deleteRequest(context.db, id).catch(() => {});
      request.log.error({ err: error, request_id: id }, 'could not queue the request');
      throw new HttpProblem(
        503,
        'queue_unavailable',
        'Service unavailable',
        'the job queue is unreachable; try again shortly',
        {},
        { 'retry-after': '5' },
      );
    }
    request.log.info(
      { request_id: id, products: form.csv.products.length, images: form.csv.imageCount },
      'request accepted',
    );
    const links = requestLinks(context.config.publicBaseUrl, id);
    return reply
      .code(202)
      .header('location', links.status_url)
      .send({ request_id: id, status: 'pending', ...links });
  });
}
