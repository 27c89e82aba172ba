import { type ResultProduct, resultCsvStream } from '@imgsvc/csv';
import { type ProductWithResult, productsInOrder } from '@imgsvc/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { problemResponses, requestIdParams } from '../schemas.js';
import { findOwnedFinishedRequest } from './owned-request.js';

async function* asResultProducts(entries: AsyncIterable<ProductWithResult>): AsyncIterable<ResultProduct> {
  for await (const { product, result } of entries) {
    yield {
      serialNumber: product.serial_number,
      productName: product.product_name,
      inputUrls: product.input_urls,
      outputUrls: result?.output_urls ?? product.input_urls.map(() => null),
      errors: (result?.errors ?? []).map((error) => ({
        url: error.url,
        message: `${error.code} (${error.message})`,
      })),
    };
  }
}

export async function downloadRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/download/:requestId',
    {
      config: { access: 'tenant' },
      schema: {
        tags: ['requests'],
        summary: 'The result CSV of a finished request',
        description:
          'The input columns in input order, then `Output Image Urls` (one entry per input URL, empty where that image failed) and `Errors` (`url: code (reason)`). Streamed. 409 while the request is still running.',
        params: requestIdParams,
        produces: ['text/csv'],
        response: {
          200: z.unknown().describe('The result CSV (text/csv), streamed.'),
          ...problemResponses(401, 404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const found = await findOwnedFinishedRequest(context, request, request.params.requestId);
      const csv = resultCsvStream(found.columns, asResultProducts(productsInOrder(context.db, found._id)));
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="result-${found._id}.csv"`)
        .header('cache-control', 'no-store')
        .send(csv);
    },
  );
}
