import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { landingLinks, renderLandingPage } from '../pages/landing-page.js';
import { loadPageAssets } from '../pages/page-assets.js';

/** Whether a client asked for JSON rather than a page (`Accept: application/json`, without text/html). */
function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && /\bapplication\/json\b/.test(accept) && !/\btext\/html\b/.test(accept);
}

/**
 * The landing page at `/` (its links as JSON for clients that ask for JSON), and the files of the service's
 * pages (pages/assets/). All are worked out once: they depend on the configuration only.
 */
export async function landingRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { config } = context;
  const page = {
    publicBaseUrl: config.publicBaseUrl,
    keysRequired: config.apiKeys.length > 0,
    dashboard: config.adminKeys.length > 0,
  };
  const html = renderLandingPage(page);
  const links = { service: 'image-service', ...landingLinks(page) };

  app.get('/', { schema: { hide: true }, config: { access: 'public' } }, async (request, reply) => {
    reply.header('vary', 'accept').header('cache-control', 'no-cache');
    if (wantsJson(request.headers.accept)) return reply.type('application/json').send(links);
    return reply.type('text/html; charset=utf-8').send(html);
  });
  for (const [name, asset] of loadPageAssets()) {
    app.get(
      `/assets/${name}`,
      { schema: { hide: true }, config: { access: 'public' } },
      async (request, reply) => {
        reply.header('etag', asset.etag).header('cache-control', 'public, max-age=3600');
        if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
        return reply.type(asset.type).send(asset.body);
      },
    );
  }
}
