import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queues } from '@imgsvc/queue';
import type { FastifyInstance } from 'fastify';
import { answerWithProblem } from './problem-details.js';
import { ownerOf, registerWithAccess } from './route-access.js';

const DASHBOARD_PATH = '/admin/queues';

const READS = new Set(['GET', 'HEAD']);

/**
 * Bull Board at /admin/queues: the queues' jobs, every tenant's product queue among them (one per key of
 * API_KEYS), for operators (ADMIN_KEYS) only. Reading is `operator`;
 * every route that changes something is `operator_write`, refused unless ADMIN_DASHBOARD_WRITE is true; Bull
 * Board's own read-only mode is set to match.
 */
export async function queueDashboard(
  app: FastifyInstance,
  options: { queues: Queues; apiKeys: readonly string[]; writable: boolean },
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [
      options.queues.requests,
      options.queues.products,
      ...options.apiKeys.map((key) => options.queues.productsOf(ownerOf(key))),
      options.queues.webhooks,
    ].map((queue) => new BullMQAdapter(queue, { readOnlyMode: !options.writable })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'image-service queues' } },
  });
  // Bull Board sets its own error handler, which would turn our problems (a 429 from the rate limit) into 500s;
  // its routes answer errors in the one shape every route has.
  app.addHook('onRoute', (route) => {
    route.errorHandler = answerWithProblem;
  });
  // Bull Board's page links a web font on Google's servers, which the page's policy refuses: no operator's
  // browser is sent to a third party, and the dashboard uses the system's fonts.
  app.addHook('onSend', async (_request, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    return typeof payload === 'string' && type.startsWith('text/html')
      ? withoutRemoteStylesheets(payload)
      : payload;
  });
  await registerWithAccess(
    app,
    (route) => ([route.method].flat().every((method) => READS.has(method)) ? 'operator' : 'operator_write'),
    () => app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH }),
  );
}

/** The page without `<link rel="stylesheet">` elements that point at another origin. */
export function withoutRemoteStylesheets(html: string): string {
  return html.replace(/<link\b[^>]*>/g, (tag) =>
    /\brel="stylesheet"/.test(tag) && /\bhref="(https?:)?\/\//.test(tag) ? '' : tag,
  );
}
