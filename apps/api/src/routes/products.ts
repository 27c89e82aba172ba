import { productsByRows } from '@imgsvc/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { productView } from '../request-view.js';
import { problemResponses, productsPage, productsQuery, requestIdParams } from '../schemas.js';
import { findOwnedRequest } from './owned-request.js';

/** The cursor is the last row of the previous page, so pages never skip or repeat a product. */
function rowAfter(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  if (!/^\d{1,9}$/.test(cursor)) throw problems.invalidCursor();
  return Number(cursor);
}

export async function productRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/requests/:requestId/products',
    {
      config: { access: 'tenant' },
      schema: {
        operationId: 'listProducts',
        tags: ['requests'],
        summary: "A request's products, page by page",
        description:
          'Each product with its input URLs, output URLs and per-image errors, in CSV order. Follow `next_cursor` until it is null.',
        params: requestIdParams,
        querystring: productsQuery,
        response: { 200: productsPage, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const found = await findOwnedRequest(context, request, request.params.requestId);
      const after = rowAfter(request.query.cursor);
      const last = Math.min(found.totals.products, after + request.query.limit);
      const rows = Array.from({ length: Math.max(0, last - after) }, (_, index) => after + index + 1);
      const products = await productsByRows(context.db, found._id, rows);
      return reply.header('cache-control', 'no-store').send({
        request_id: found._id,
        products: products.map(productView),
        next_cursor: last < found.totals.products ? String(last) : null,
      });
    },
  );
}
