import { HEADER_NAMES } from '@imgsvc/csv';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { renderUploadPage } from '../pages/upload-page.js';

/**
 * The upload page at /upload. Its policy is the service's with one addition: the compressed images it shows
 * come from where output URLs point (OUTPUT_BASE_URL or PUBLIC_BASE_URL), which may be another origin than
 * the one the page was opened under.
 */
export async function uploadPageRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { config } = context;
  const html = renderUploadPage({
    keysRequired: config.apiKeys.length > 0,
    maxUploadBytes: config.upload.maxUploadBytes,
    maxRows: config.upload.maxRows,
    header: HEADER_NAMES,
  });
  const outputs = new URL(config.outputBaseUrl).origin;
  app.get('/upload', { schema: { hide: true }, config: { access: 'public' } }, async (_request, reply) => {
    const policy = String(reply.getHeader('content-security-policy') ?? '');
    reply
      .header(
        'content-security-policy',
        policy.replace("img-src 'self' data:", `img-src 'self' data: ${outputs}`),
      )
      .header('cache-control', 'no-cache');
    return reply.type('text/html; charset=utf-8').send(html);
  });
}
