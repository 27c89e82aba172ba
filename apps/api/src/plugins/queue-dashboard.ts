import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queues } from '@imgsvc/queue';
import type { FastifyInstance } from 'fastify';

export const DASHBOARD_PATH = '/admin/queues';

/** Bull Board at /admin/queues: the queues' jobs, for operators; behind the API keys like /api. */
export async function queueDashboard(app: FastifyInstance, options: { queues: Queues }): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [options.queues.requests, options.queues.products, options.queues.webhooks].map(
      (queue) => new BullMQAdapter(queue, { readOnlyMode: false }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'image-service queues' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
}
