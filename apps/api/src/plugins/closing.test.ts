import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { refuseWhileClosing } from './closing.js';
import { problemDetails } from './problem-details.js';

describe('an API that is shutting down', () => {
  it('answers a request reaching it after close began with a 503 problem and closes the connection', async () => {
    const app = Fastify({ return503OnClosing: false });
    await app.register(problemDetails);
    await app.register(refuseWhileClosing);
    // Holds the close between its start and the moment the server stops listening, where requests still arrive.
    let markClosing = () => {};
    const closingBegan = new Promise<void>((resolve) => {
      markClosing = resolve;
    });
    let finishClosing = () => {};
    const mayFinish = new Promise<void>((resolve) => {
      finishClosing = resolve;
    });
    app.addHook('preClose', async () => {
      markClosing();
      await mayFinish;
    });
    app.get('/status', async () => ({ answered: true }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    expect((await fetch(`${url}/status`)).status).toBe(200);

    const closed = app.close();
    try {
      await closingBegan;
      const answer = await fetch(`${url}/status`);
      expect(answer.status).toBe(503);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.headers.get('connection')).toBe('close');
      expect(answer.headers.get('retry-after')).toBe('1');
      expect(await answer.json()).toMatchObject({
        code: 'shutting_down',
        status: 503,
        title: 'Shutting down',
      });
    } finally {
      finishClosing();
      await closed;
    }
  });
});
