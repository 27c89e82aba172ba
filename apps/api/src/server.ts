import type { Config } from '@imgsvc/config';
import { openDatabase } from '@imgsvc/db';
import type { Logger } from '@imgsvc/logging';
import { createRedisConnection, openQueues, requestProgress } from '@imgsvc/queue';
import { createImageStore } from '@imgsvc/storage';
import { buildApp } from './app.js';

export interface Connections {
  readonly mongoUrl: string;
  readonly redisUrl: string;
}

export interface RunningApi {
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, then closes every connection. */
  close(): Promise<void>;
}

export async function startApi(config: Config, connections: Connections, log: Logger): Promise<RunningApi> {
  if (config.nodeEnv === 'production' && config.apiKeys.length === 0) {
    throw new Error('NODE_ENV=production needs API_KEYS: refusing to serve an open API');
  }
  const db = openDatabase(connections.mongoUrl, 'image-service-api', (error) =>
    log.warn(
      { reason: (error as Error).message },
      'database unreachable; the API answers 503 until it is back',
    ),
  );
  const redis = createRedisConnection(connections.redisUrl, 'producer');
  const queues = openQueues(redis);
  const app = await buildApp(
    {
      config,
      db,
      redis,
      queues,
      progress: requestProgress(redis),
      store: createImageStore(config.storageDir),
    },
    log,
  );
  // While shutting down, answers in flight ask keep-alive clients to close their connections, so that the
  // server is not held open until the clients' idle timeouts.
  let draining = false;
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, public_base_url: config.publicBaseUrl, api_keys: config.apiKeys.length }, 'API listening');
  return {
    url,
    async close() {
      draining = true;
      await app.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
      await db.close();
    },
  };
}
