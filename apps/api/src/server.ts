import { type Config, ConfigError, productionRefusal } from '@imgsvc/config';
import { openDatabase } from '@imgsvc/db';
import type { Logger } from '@imgsvc/logging';
import { createRedisConnection } from '@imgsvc/queue';
import { buildApp } from './app.js';
import { apiDependencies } from './context.js';

export interface Connections {
  readonly mongoUrl: string;
  readonly redisUrl: string;
}

export interface RunningApi {
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, then closes every connection. */
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export async function startApi(config: Config, connections: Connections, log: Logger): Promise<RunningApi> {
  const refusal = productionRefusal(config, 'api');
  if (refusal) throw new ConfigError(refusal);
  const db = openDatabase(connections.mongoUrl, 'image-service-api', (error) =>
    log.warn(
      { reason: (error as Error).message },
      'database unreachable; the API answers 503 until it is back',
    ),
  );
  const redis = createRedisConnection(connections.redisUrl, 'producer');
  const dependencies = apiDependencies(config, db, redis);
  const app = await buildApp(dependencies, log);
  // While shutting down, answers in flight ask keep-alive clients to close their connections, so that the
  // server is not held open until the clients' idle timeouts.
  let draining = false;
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });
  // Without keys anyone who can reach the API can use it: outside production it then listens on loopback only.
  if (config.nodeEnv === 'production' && !config.metricsToken) {
    log.warn('METRICS_TOKEN is not set: /metrics is off (in production it is served only behind a token)');
  }
  const open = config.apiKeys.length === 0;
  const host = open && !isLoopback(config.host) ? '127.0.0.1' : config.host;
  if (open) {
    log.warn(
      { requested_host: config.host, host },
      'API_KEYS is not set: the API is open to anyone who can reach it, so it listens on loopback only',
    );
  }
  await app.listen({ port: config.port, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info(
    {
      url,
      public_base_url: config.publicBaseUrl,
      storage: dependencies.store.location,
      output_base_url: config.outputBaseUrl,
      api_keys: config.apiKeys.length,
      admin_keys: config.adminKeys.length,
      metrics_token: config.metricsToken !== undefined,
    },
    'API listening',
  );
  return {
    url,
    async close() {
      draining = true;
      await app.close();
      await dependencies.queues.close();
      dependencies.store.close();
      await redis.quit().catch(() => redis.disconnect());
      await db.close();
    },
  };
}
