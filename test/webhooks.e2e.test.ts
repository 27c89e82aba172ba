import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisConnection, JOB_NAMES, openQueues } from '@imgsvc/queue';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { readBody, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const SECRET = `whsec_${Buffer.from('webhooks end-to-end secret 32 b!').toString('base64')}`;
const BACKOFF_MS = 200;
/** What an attempt may take beyond its backoff: the failed answer, the job's bookkeeping, the next request. */
const BACKOFF_TOLERANCE_MS = 300;

interface Delivery {
  readonly at: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

interface WebhookStatus {
  status: string;
  webhook?: {
    url: string;
    state: string;
    attempts: number;
    last_error: string | null;
    delivered_at: string | null;
  };
}

/** A receiver whose behaviour each test sets: fail N times, never answer, or answer 200. */
function receiverState() {
  return { failuresLeft: 0, silent: false, deliveries: [] as Delivery[] };
}

describe('webhooks a receiver can trust', () => {
  const state = receiverState();
  let receiver: TestHttpServer;
  let images: TestHttpServer;
  let service: RunningService;
  let storageDir: string;
  let redisDatabase: string;

  beforeAll(async () => {
    const photo = await photoLikeJpeg(160, 120, 77);
    images = await startHttpServer((_request, response) => {
      response.setHeader('content-type', 'image/jpeg');
      response.end(photo);
    });
    receiver = await startHttpServer(async (request, response) => {
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(request.headers)) headers[key] = String(value);
      state.deliveries.push({ at: Date.now(), headers, body: await readBody(request) });
      if (state.silent) return; // holds the connection, never answers
      if (state.failuresLeft > 0) {
        state.failuresLeft -= 1;
        response.statusCode = 503;
      } else {
        response.statusCode = 200;
      }
      response.end();
    });
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-webhooks-'));
    redisDatabase = await testRedisUrl();
    service = await startService({
      MONGO_URL: testMongoUrl('webhooks'),
      REDIS_URL: redisDatabase,
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
      WEBHOOK_MAX_ATTEMPTS: '4',
      WEBHOOK_TIMEOUT_MS: '400',
    });
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([images?.close(), receiver?.close()]);
    await rm(storageDir, { recursive: true, force: true });
  });

  async function requestWithWebhook(url: string): Promise<string> {
    const form = csvForm(`S. No.,Product Name,Input Image Urls\n1,Mug,${images.url}/mug.jpg\n`, {
      webhook_url: url,
    });
    const response = await fetch(`${service.apiUrl}/api/upload`, { method: 'POST', body: form });
    expect(response.status).toBe(202);
    return ((await response.json()) as { request_id: string }).request_id;
  }

  const status = async (id: string) =>
    (await (await fetch(`${service.apiUrl}/api/status/${id}`)).json()) as WebhookStatus;

  async function settled(id: string, timeoutMs = 20_000): Promise<WebhookStatus> {
    return pollUntil(
      async () => {
        const current = await status(id);
        return current.webhook && current.webhook.state !== 'pending' ? current : undefined;
      },
      { timeoutMs, what: 'webhook delivered or failed' },
    );
  }

  it('retries a failing receiver with exponential backoff, one webhook-id throughout, every attempt signed', async () => {
    state.deliveries.length = 0;
    state.failuresLeft = 2;
    const id = await requestWithWebhook(`${receiver.url}/hooks/flaky`);
    const final = await settled(id);
    expect(final.webhook).toMatchObject({ state: 'delivered', attempts: 3, last_error: null });
    expect(final.webhook?.delivered_at).toEqual(expect.any(String));
    expect(state.deliveries).toHaveLength(3);
    const ids = new Set(state.deliveries.map((delivery) => delivery.headers['webhook-id']));
    expect(ids.size).toBe(1);
    const verifier = new Webhook(SECRET);
    for (const delivery of state.deliveries) {
      expect(verifier.verify(delivery.body, delivery.headers)).toMatchObject({
        type: 'request.completed',
        data: { request_id: id },
      });
    }
    // BullMQ's exponential backoff: BACKOFF_MS, then twice that. Each attempt comes once its delay is over and
    // within BACKOFF_TOLERANCE_MS after: not sooner, and not at a slower schedule's pace.
    const arrivals = state.deliveries.map((delivery) => delivery.at);
    const gaps = arrivals.slice(1).map((at, index) => at - (arrivals[index] ?? 0));
    const schedule = [BACKOFF_MS, 2 * BACKOFF_MS];
    expect(gaps).toHaveLength(schedule.length);
    schedule.forEach((delay, index) => {
      const what = `time before attempt ${index + 2} (its backoff ${delay} ms), all gaps ${gaps.join(', ')} ms`;
      expect(gaps[index], what).toBeGreaterThanOrEqual(delay);
      expect(gaps[index], what).toBeLessThan(delay + BACKOFF_TOLERANCE_MS);
    });
  }, 30_000);

  it('never delivers an event twice after it succeeded, even if its job runs again', async () => {
    state.deliveries.length = 0;
    const id = await requestWithWebhook(`${receiver.url}/hooks/once`);
    expect((await settled(id)).webhook?.state).toBe('delivered');
    const redis = createRedisConnection(redisDatabase, 'producer');
    const queues = openQueues(redis);
    try {
      const rerun = await queues.webhooks.add(JOB_NAMES.triggerWebhook, {
        requestId: id,
        event: 'request.completed',
      });
      await pollUntil(async () => ((await rerun.isCompleted()) ? true : undefined), {
        timeoutMs: 10_000,
        what: 'rerun done',
      });
      expect(await rerun.getState()).toBe('completed');
    } finally {
      await queues.close();
      await redis.quit();
    }
    expect(state.deliveries).toHaveLength(1);
  }, 30_000);

  it('gives up on a receiver that never answers, after every attempt timed out', async () => {
    state.deliveries.length = 0;
    state.silent = true;
    try {
      const id = await requestWithWebhook(`${receiver.url}/hooks/silent`);
      const final = await settled(id);
      expect(final.webhook).toMatchObject({
        state: 'failed',
        attempts: 4,
        last_error: 'no answer within 400 ms',
      });
      expect(state.deliveries).toHaveLength(4);
    } finally {
      state.silent = false;
    }
  }, 30_000);

  it('records a receiver that is down as failed once its attempts are used up', async () => {
    const down = await startHttpServer((_request, response) => {
      response.end();
    });
    const url = `${down.url}/hooks/down`;
    await down.close();
    const id = await requestWithWebhook(url);
    const final = await settled(id);
    expect(final.webhook).toMatchObject({ state: 'failed', attempts: 4, delivered_at: null });
    expect(final.webhook?.last_error).toMatch(/ECONNREFUSED/);
  }, 30_000);
});

describe('a webhook URL in a blocked range, with the guard on', () => {
  // The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens; the
  // receiver sits on 127.0.0.1 (where `localhost` resolves), refused as a private address is in production.
  const IMAGE_HOST = '127.0.0.2';
  let images: TestHttpServer;
  let receiver: TestHttpServer;
  let service: RunningService;
  let storageDir: string;

  beforeAll(async () => {
    const photo = await photoLikeJpeg(160, 120, 78);
    images = await startHttpServer((_request, response) => {
      response.setHeader('content-type', 'image/jpeg');
      response.end(photo);
    }, IMAGE_HOST);
    receiver = await startHttpServer((_request, response) => {
      response.end();
    });
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-webhooks-guarded-'));
    service = await startService({
      MONGO_URL: testMongoUrl('webhooks_guarded'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
      WEBHOOK_MAX_ATTEMPTS: '4',
    });
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([images?.close(), receiver?.close()]);
    await rm(storageDir, { recursive: true, force: true });
  });

  const csv = () => `S. No.,Product Name,Input Image Urls\n1,Mug,${images.url}/mug.jpg\n`;

  it('is refused at upload when written as an address, and never called when its name resolves there', async () => {
    const literal = csvForm(csv(), { webhook_url: `${receiver.url}/hook` });
    const refused = await fetch(`${service.apiUrl}/api/upload`, { method: 'POST', body: literal });
    expect(refused.status).toBe(400);
    expect((await refused.json()) as { code: string; detail: string }).toMatchObject({
      code: 'invalid_webhook_url',
      detail: 'webhook_url: the host is not allowed',
    });

    const named = csvForm(csv(), { webhook_url: `${receiver.url.replace('127.0.0.1', 'localhost')}/hook` });
    const accepted = await fetch(`${service.apiUrl}/api/upload`, { method: 'POST', body: named });
    expect(accepted.status).toBe(202);
    const { request_id: id, status_url: statusUrl } = (await accepted.json()) as {
      request_id: string;
      status_url: string;
    };
    const final = await pollUntil(
      async () => {
        const current = (await (await fetch(statusUrl)).json()) as WebhookStatus & {
          counts: Record<string, number>;
        };
        return current.webhook?.state === 'failed' ? current : undefined;
      },
      { timeoutMs: 30_000, what: 'webhook failed' },
    );
    // The image host is open to the guard; the receiver's name is not.
    expect(final.counts).toMatchObject({ images: 1, images_succeeded: 1 });
    // One attempt: retrying cannot make a blocked address reachable. The client reads a stable code and a
    // generic reason, never the address the name resolved to.
    expect(final.webhook).toMatchObject({
      state: 'failed',
      attempts: 1,
      last_error: 'blocked_address: the host is not allowed',
    });
    expect(JSON.stringify(final.webhook)).not.toMatch(/127\.0\.0\.1|::1/);
    expect(receiver.hits).toHaveLength(0);
    // The operator's log line names the request and the address.
    const logged = await pollUntil(
      async () =>
        service.worker
          .output()
          .split('\n')
          .find((line) => line.includes(id) && line.includes('webhook') && line.includes('127.0.0.1')),
      { timeoutMs: 5000, what: 'the refusal logged with its address' },
    );
    expect(logged).toContain('localhost');
  }, 60_000);
});
