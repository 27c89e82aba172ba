/**
 * `npm start` as a developer runs it from a folder with a `.env`: the file's settings are used, and a variable
 * of the environment wins over the file's.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemOf } from './support/api.js';
import { apiReady, type RunningProgram, spawnProgram } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const START = join(import.meta.dirname, '..', 'scripts', 'start.ts');

describe('npm start with a .env', () => {
  let folder: string;
  let start: RunningProgram | undefined;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'npm-start-env-'));
  });
  afterAll(async () => {
    await start?.stop('SIGKILL');
    await rm(folder, { recursive: true, force: true });
  });

  it('reads ./.env, and the environment wins over it', async () => {
    const port = await freePort();
    await writeFile(
      join(folder, '.env'),
      [
        "# a developer's settings",
        `PORT=${port}`,
        'HOST=127.0.0.1',
        `MONGO_URL=${testMongoUrl('npm_start_env')}`,
        `REDIS_URL=${await testRedisUrl()}`,
        `STORAGE_DIR=${join(folder, 'images')}`,
        'WORKER_METRICS_PORT=0',
        'API_KEYS=key-from-the-file',
        '',
      ].join('\n'),
    );
    // The program is started as `npm start` starts it, from the folder that holds the .env.
    start = spawnProgram(
      ['--import', import.meta.resolve('tsx'), START],
      { API_KEYS: 'key-from-the-environment' },
      folder,
    );
    const url = `http://127.0.0.1:${port}`;
    await apiReady(url, start, 60_000);
    expect(start.output()).toContain('settings read from the environment and .env');

    const status = (key: string) =>
      fetch(`${url}/api/status/${randomUUID()}`, { headers: { authorization: `Bearer ${key}` } });
    const known = await status('key-from-the-environment');
    expect(known.status).toBe(404);
    expect((await problemOf(known)).code).toBe('request_not_found');
    expect((await status('key-from-the-file')).status).toBe(401);
    expect(await start.stop('SIGTERM')).toBe(0);
  });
});
