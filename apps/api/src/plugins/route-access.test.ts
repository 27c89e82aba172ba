import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerWithAccess, routeAccess } from './route-access.js';

const keys = {
  apiKeys: ['tenant-key'],
  adminKeys: ['operator-key'],
  adminDashboardWrite: false,
  metricsToken: 'm',
  metricsOffWithoutToken: false,
};

describe('authorisation by route', () => {
  it('refuses to start while a route declares nothing, and names it', async () => {
    const app = Fastify();
    await app.register(routeAccess, keys);
    app.get('/declared', { config: { access: 'public' } }, async () => 'ok');
    app.post('/forgotten', async () => 'ok');
    await expect(app.ready()).rejects.toThrow(/POST \/forgotten/);
    await app.close();
  });

  it('refuses an access level it does not know', async () => {
    const app = Fastify();
    await app.register(routeAccess, keys);
    app.get('/typo', { config: { access: 'pubic' as never } }, async () => 'ok');
    await expect(app.ready()).rejects.toThrow(/GET \/typo/);
    await app.close();
  });

  it("gives the routes of another project's plugin the access it is registered with", async () => {
    const app = Fastify();
    await app.register(routeAccess, keys);
    await registerWithAccess(
      app,
      (route) => (route.method === 'GET' || route.method === 'HEAD' ? 'operator' : 'operator_write'),
      () =>
        app.register(
          async (plugin) => {
            plugin.get('/board', async () => 'board');
            plugin.put('/board/pause', async () => 'paused');
          },
          { prefix: '/ops' },
        ),
    );
    // Routes added afterwards are not swept up: they must declare their own.
    app.get('/later', { config: { access: 'tenant' } }, async () => 'later');
    await app.ready();
    expect(app.routeAccessTable()).toEqual(
      expect.arrayContaining([
        { method: 'GET', url: '/ops/board', access: 'operator' },
        { method: 'HEAD', url: '/ops/board', access: 'operator' },
        { method: 'PUT', url: '/ops/board/pause', access: 'operator_write' },
        { method: 'GET', url: '/later', access: 'tenant' },
      ]),
    );
    const board = { authorization: 'Bearer operator-key' };
    expect((await app.inject({ url: '/ops/board', headers: board })).statusCode).toBe(200);
    expect((await app.inject({ method: 'PUT', url: '/ops/board/pause', headers: board })).statusCode).toBe(
      403,
    );
    expect(
      (await app.inject({ url: '/ops/board', headers: { authorization: 'Bearer tenant-key' } })).statusCode,
    ).toBe(404);
    expect(
      (await app.inject({ url: '/later', headers: { authorization: 'Bearer tenant-key' } })).statusCode,
    ).toBe(200);
    expect((await app.inject({ url: '/later', headers: board })).statusCode).toBe(401);
    await app.close();
  });
});
