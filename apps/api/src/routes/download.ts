import { productsInOrder } from '@imgsvc/db';
import { resultCsv } from '@imgsvc/requests';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { resultJsonStream } from '../request-view.js';
import { problemResponses, requestIdParams, resultFormatQuery } from '../schemas.js';
import { findOwnedFinishedRequest } from './owned-request.js';

/** JSON when asked for by `format`, or, without it, by an Accept header that prefers JSON to CSV. */
function wantsJson(format: 'csv' | 'json' | undefined, accept: string | undefined): boolean {
  if (format) return format === 'json';
  const accepted = (accept ?? '').toLowerCase();
  return accepted.includes('application/json') && !accepted.includes('text/csv');
}

export async function downloadRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/download/:requestId',
    {
      config: { access: 'tenant' },
      schema: {
        operationId: 'downloadResult',
        tags: ['requests'],
        summary: 'The result of a finished request, as CSV or JSON',
        description:
          'CSV (the default): the input columns in input order, then `Output Image Urls` (one entry per input URL, empty where that image failed) and `Errors` (`url: code (reason)`). JSON (`?format=json`, or `Accept: application/json` without `format`): `{request_id, status, finished_at, counts, products}`, each product as in the products page. Streamed. 409 while the request is still running.',
        params: requestIdParams,
        querystring: resultFormatQuery,
        produces: ['text/csv', 'application/json'],
        response: {
          200: z.unknown().describe('The result CSV (text/csv) or JSON (application/json), streamed.'),
          ...problemResponses(400, 401, 404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const found = await findOwnedFinishedRequest(context, request, request.params.requestId);
      if (wantsJson(request.query.format, request.headers.accept)) {
        return reply
          .type('application/json; charset=utf-8')
          .header('cache-control', 'no-store')
          .header('vary', 'accept')
          .send(
            resultJsonStream(
              found,
              productsInOrder(context.db, found._id, found.totals.products),
              context.config.publicBaseUrl,
            ),
          );
      }
      const csv = resultCsv(context.db, found);
      reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="result-${found._id}.csv"`)
        .header('cache-control', 'no-store')
        .header('vary', 'accept');
      if (csv.bytes !== undefined) reply.header('content-length', csv.bytes);
      return reply.send(csv.stream);
    },
  );
}
