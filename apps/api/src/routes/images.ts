import { IMAGE_ROUTE_PREFIX } from '@imgsvc/domain';
import { IMAGE_CACHE_CONTROL, imageEtag } from '@imgsvc/storage';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { problems } from '../problems.js';
import { problemResponses } from '../schemas.js';

/**
 * Stored outputs, from the folder or streamed from the bucket: named by content, so they never change and may
 * be cached for a year. A storage that cannot serve answers 503 `storage_unavailable`.
 */
export async function imageRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    `${IMAGE_ROUTE_PREFIX}:key`,
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getImage',
        tags: ['images'],
        summary: 'A processed image',
        description: 'Named by content: it never changes, so it may be cached for a year.',
        params: z.object({
          key: z
            .string()
            .max(80)
            .meta({ example: '9c93b0870b465218f159c7e41680cdf926935282d145fe450e01ce9d8ea866ae.jpg' }),
        }),
        produces: ['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/gif'],
        response: {
          200: z.unknown().describe('The image, with its content type.'),
          304: z.unknown().describe('Not modified (If-None-Match matched the ETag).'),
          ...problemResponses(400, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      const etag = imageEtag(key);
      const revalidating = request.headers['if-none-match'] === etag;
      // A client that holds the image only needs to know it is still there: no body is read from the store.
      const image = revalidating
        ? (await context.store.has(key)) || undefined
        : await context.store.open(key);
      if (!image) throw problems.imageNotFound({ key });
      reply
        .header('cache-control', IMAGE_CACHE_CONTROL)
        .header('etag', etag)
        .header('x-content-type-options', 'nosniff')
        // Shops embed these images on their own sites.
        .header('cross-origin-resource-policy', 'cross-origin');
      if (image === true) return reply.code(304).send(undefined);
      return reply.type(image.contentType).header('content-length', image.size).send(image.stream);
    },
  );
}
