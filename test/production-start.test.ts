import { once } from 'node:events';
import { freePort } from '@imgsvc/local-services';
import { describe, expect, it } from 'vitest';
import { apiReady, startProgram } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const SECRET = `whsec_${Buffer.from('production start test secret, 32').toString('base64')}`;
// Connections the programs must never need: they refuse before connecting.
const NOWHERE = { MONGO_URL: 'mongodb://127.0.0.1:9/none', REDIS_URL: 'redis://127.0.0.1:9' };

describe('production settings', () => {
  it.each([
    ['api', {}, 'NODE_ENV=production needs API_KEYS: refusing to serve an open API'],
    [
      'api',
      { API_KEYS: 'k1' },
      'NODE_ENV=production needs WEBHOOK_SECRET: refusing to send unsigned webhooks',
    ],
    ['worker', {}, 'NODE_ENV=production needs WEBHOOK_SECRET: refusing to send unsigned webhooks'],
  ] as const)('%s with %o refuses to start, with one line saying why', async (program, settings, line) => {
    const started = startProgram(program, { ...NOWHERE, NODE_ENV: 'production', ...settings });
    const [code] = await once(started.child, 'exit');
    expect(code).toBe(1);
    expect(started.output().trim()).toBe(line);
  });

  it('starts the API with tenant keys and a webhook secret', async () => {
    const port = await freePort();
    const api = startProgram('api', {
      NODE_ENV: 'production',
      API_KEYS: 'k1',
      WEBHOOK_SECRET: SECRET,
      HOST: '127.0.0.1',
      PORT: String(port),
      MONGO_URL: testMongoUrl('production_start'),
      REDIS_URL: await testRedisUrl(),
    });
    try {
      await apiReady(`http://127.0.0.1:${port}`, api);
    } finally {
      expect(await api.stop()).toBe(0);
    }
  });
});

describe('an API without tenant keys', () => {
  it('listens on loopback only, whatever HOST asks for, and says so', async () => {
    const port = await freePort();
    const api = startProgram('api', {
      NODE_ENV: 'development',
      HOST: '0.0.0.0',
      PORT: String(port),
      MONGO_URL: testMongoUrl('open_api_loopback'),
      REDIS_URL: await testRedisUrl(),
    });
    try {
      await apiReady(`http://127.0.0.1:${port}`, api);
      // A wildcard listener would answer on every loopback address; this one answers on 127.0.0.1 alone.
      await expect(fetch(`http://127.0.0.2:${port}/health/live`)).rejects.toMatchObject({
        cause: { code: 'ECONNREFUSED' },
      });
      const warning = api
        .output()
        .split('\n')
        .find((line) => line.includes('API_KEYS is not set'));
      expect(JSON.parse(warning ?? '{}')).toMatchObject({
        level: 'warn',
        requested_host: '0.0.0.0',
        host: '127.0.0.1',
        msg: 'API_KEYS is not set: the API is open to anyone who can reach it, so it listens on loopback only',
      });
    } finally {
      expect(await api.stop()).toBe(0);
    }
  });
});
