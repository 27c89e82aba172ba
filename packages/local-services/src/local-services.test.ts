import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { describe, expect, it } from 'vitest';
import { dockerEngineAnswers } from './docker.js';
import { findExecutable } from './executables.js';
import { redisAnswers, startRedisServer } from './redis-server.js';

describe('local services', () => {
  it('says quickly that no Docker engine answers where there is none', async () => {
    const started = Date.now();
    expect(await dockerEngineAnswers('unix:///nonexistent/docker.sock', 1000)).toBe(false);
    expect(await dockerEngineAnswers('tcp://127.0.0.1:1', 1000)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('starts redis-server on a free port and stops it', async () => {
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH (the test setup installs it)');
    const dataDir = await mkdtemp(join(tmpdir(), 'redis-test-'));
    try {
      const server = await startRedisServer(binary, dataDir, { persistent: false });
      const port = Number(new URL(server.url).port);
      expect(await redisAnswers('127.0.0.1', port)).toBe(true);
      await server.stop();
      expect(await redisAnswers('127.0.0.1', port)).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
