import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadEnvFile } from './env-file.js';

describe('loadEnvFile', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'env-file-'));
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('adds the variables the environment lacks; those it has, even empty, win', async () => {
    const file = join(folder, '.env');
    await writeFile(
      file,
      '# settings\nPORT=4000\nLOG_LEVEL=debug\nAPI_KEYS="a, b"\nCORS_ORIGINS=https://shop.example\n\nHOST=0.0.0.0\n',
    );
    const environment: NodeJS.ProcessEnv = { PORT: '5000', CORS_ORIGINS: '' };
    expect(loadEnvFile(file, environment)).toBe(file);
    expect(environment).toEqual({
      PORT: '5000',
      CORS_ORIGINS: '',
      LOG_LEVEL: 'debug',
      API_KEYS: 'a, b',
      HOST: '0.0.0.0',
    });
  });

  it('reads nothing when there is no file, and says so', () => {
    const environment: NodeJS.ProcessEnv = {};
    expect(loadEnvFile(join(folder, '.env'), environment)).toBeUndefined();
    expect(environment).toEqual({});
  });

  it('fails on a file it cannot read (a folder where the file should be)', () => {
    expect(() => loadEnvFile(folder, {})).toThrow(/EISDIR/);
  });
});
