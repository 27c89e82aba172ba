import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAddressPolicy, createGuardedAgent } from '@imgsvc/fetching';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWebhook, WebhookDeliveryError } from './deliver-webhook.js';

const SECRET = `whsec_${Buffer.from('a secret of thirty-two bytes, ok!').toString('base64')}`;

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

let server: Server;
let base: string;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      });
      if (request.url === '/ok') return response.writeHead(204).end();
      if (request.url === '/accepted') return response.writeHead(202).end();
      if (request.url === '/redirect') return response.writeHead(302, { location: '/ok' }).end();
      if (request.url === '/silent') return; // never answers
      response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const loopbackAllowed = createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: true });
const open = {
  dispatcher: createGuardedAgent({
    addressPolicy: loopbackAllowed,
    connectTimeoutMs: 1000,
    connectionsPerOrigin: 2,
  }),
  addressPolicy: loopbackAllowed,
  timeoutMs: 500,
};
const message = (path: string, secret: string | undefined = SECRET) => ({
  url: `${base}${path}`,
  id: 'msg_0123456789abcdef_completed',
  body: JSON.stringify({ type: 'request.completed', data: { request_id: 'x' } }),
  secret,
});

async function failure(promise: Promise<unknown>): Promise<WebhookDeliveryError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WebhookDeliveryError) return error;
    throw error;
  }
  throw new Error('the delivery succeeded');
}

describe('deliverWebhook', () => {
  it('POSTs a body that the Standard Webhooks reference library verifies', async () => {
    expect(await deliverWebhook(message('/ok'), open)).toBe(204);
    const delivery = received.at(-1);
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(delivery?.headers['webhook-id']).toBe('msg_0123456789abcdef_completed');
    expect(delivery?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const verified = new Webhook(SECRET).verify(
      delivery?.body ?? '',
      delivery?.headers as Record<string, string>,
    );
    expect(verified).toEqual({ type: 'request.completed', data: { request_id: 'x' } });
    // The same body signed with another secret does not verify.
    const other = `whsec_${Buffer.from('another secret, also 32 bytes!!!').toString('base64')}`;
    expect(() =>
      new Webhook(other).verify(delivery?.body ?? '', delivery?.headers as Record<string, string>),
    ).toThrow();
  });

  it('counts any 2xx as delivered and sends no signature without a secret', async () => {
    expect(await deliverWebhook({ ...message('/accepted'), secret: undefined }, open)).toBe(202);
    expect(received.at(-1)?.headers['webhook-signature']).toBeUndefined();
  });

  it('fails, to be retried, on an error status, a redirect it does not follow, a silent or absent receiver', async () => {
    expect((await failure(deliverWebhook(message('/error'), open))).message).toBe(
      'the receiver answered 500',
    );
    const before = received.filter((delivery) => delivery.path === '/ok').length;
    const redirected = await failure(deliverWebhook(message('/redirect'), open));
    expect(redirected.message).toBe('the receiver answered 302');
    expect(received.filter((delivery) => delivery.path === '/ok').length).toBe(before);
    const silent = await failure(deliverWebhook(message('/silent'), open));
    expect(silent.message).toBe('no answer within 500 ms');
    expect(silent.final).toBe(false);
    const down = await failure(deliverWebhook({ ...message('/ok'), url: 'http://127.0.0.1:1/hook' }, open));
    expect(down.message).toBe('the receiver could not be reached (ECONNREFUSED)');
    expect(down.final).toBe(false);
  });

  it('never reaches a blocked address with the guard on, says retrying cannot help, and not where the name led', async () => {
    const publicOnly = createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: false });
    const guarded = {
      dispatcher: createGuardedAgent({
        addressPolicy: publicOnly,
        connectTimeoutMs: 1000,
        connectionsPerOrigin: 2,
      }),
      addressPolicy: publicOnly,
      timeoutMs: 500,
    };
    const before = received.length;
    for (const url of [`${base}/ok`, `${base.replace('127.0.0.1', 'localhost')}/ok`]) {
      const blocked = await failure(deliverWebhook({ ...message('/ok'), url }, guarded));
      expect(blocked.message).toBe('blocked_address: the host is not allowed');
      expect(blocked.final).toBe(true);
      // The address is for the operator's log, never the webhook state.
      expect(blocked.detail).toContain('127.0.0.1');
    }
    expect(received.length).toBe(before);
    await guarded.dispatcher.close();
  });
});
