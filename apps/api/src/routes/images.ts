import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { HttpProblem } from '../problem.js';

/** Stored outputs: named by content, so they never change and may be cached for a year. */
export async function imageRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.get<{ Params: { key: string } }>(
    '/images/:key',
    {
      schema: {
        params: { type: 'object', properties: { key: { type: 'string', maxLength: 80 } }, required: ['key'] },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      const etag = `"${key.split('.')[0]}"`;
      const image = await context.store.open(key);
      if (!image) throw new HttpProblem(404, 'image_not_found', 'Image not found', `no stored image ${key}`);
      reply
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('etag', etag)
        .header('x-content-type-options', 'nosniff');
      if (request.headers['if-none-match'] === etag) {
        image.stream.destroy();
        return reply.code(304).send();
      }
      return reply.type(image.contentType).header('content-length', image.size).send(image.stream);
    },
  );
}
