import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMachineEnvironment } from '@imgsvc/config';
import { afterEach, describe, expect, it } from 'vitest';
import { findExecutable } from './executables.js';
import { type LocalServices, startLocalServices } from './local-services.js';
import { askTcp, freePort, waitUntil } from './network.js';
import { redisAnswers, startRedisServer } from './redis-server.js';
import { recordFile, type ServerRecord, serversOnFolder } from './server-record.js';

const fixture = fileURLToPath(new URL('./fixtures/start-services.ts', import.meta.url));

/** The servers running on a data folder, found by their command lines (as an operator would with ps). */
async function serversOn(dataDir: string) {
  const redis = await serversOnFolder('redis-server', ['--dir', join(dataDir, 'redis')]);
  const ferretdb = await serversOnFolder('ferretdb', [
    `--sqlite-url=file:${join(dataDir, 'ferretdb', 'sqlite')}/`,
  ]);
  return { redis, ferretdb };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Removes the folder, first killing whatever still runs on it, so that a failing test leaves nothing behind. */
async function dataFolder(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'data-folder-test-'));
  cleanups.push(async () => {
    const { redis, ferretdb } = await serversOn(dataDir);
    for (const pid of [...redis, ...ferretdb]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await waitUntil(
      async () => {
        const left = await serversOn(dataDir);
        return left.redis.length + left.ferretdb.length === 0;
      },
      10_000,
      'leftover servers to go',
    );
    await rm(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}

/** Starts the embedded servers in a child process, as `npm start` does, and waits for their URLs. */
async function startInChild(
  dataDir: string,
): Promise<{ child: ChildProcess; redisUrl: string; mongoUrl: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`the child exited:\n${stderr}`);
      return stdout.includes('\n');
    },
    25_000,
    'the child start',
  );
  return { child, ...JSON.parse(stdout.split('\n')[0] as string) };
}

function startHere(dataDir: string, log: string[]): Promise<LocalServices> {
  return startLocalServices({
    dataDir,
    persistent: true,
    useRunningRedis: false,
    machine: readMachineEnvironment(),
    log: (message) => log.push(message),
  });
}

const portOf = (url: string) => Number(new URL(url).port);

describe('the embedded servers own their data folder', () => {
  it('a start after one killed with SIGKILL reuses its redis-server and FerretDB, with the queue, and never runs a second pair', async () => {
    const dataDir = await dataFolder();
    const first = await startInChild(dataDir);
    const before = await serversOn(dataDir);
    expect(before.redis).toHaveLength(1);
    expect(before.ferretdb).toHaveLength(1);
    expect(await askTcp('127.0.0.1', portOf(first.redisUrl), 'SET queued-job 1\r\n', 2000)).toBe('+OK\r\n');

    // While the first start lives, the folder is its own: a second start is refused and starts nothing.
    await expect(startHere(dataDir, [])).rejects.toThrow(
      `belongs to process ${first.child.pid}, which is running`,
    );
    expect(await serversOn(dataDir)).toEqual(before);

    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    expect(await serversOn(dataDir)).toEqual(before);

    const log: string[] = [];
    const second = await startHere(dataDir, log);
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await second.stop();
    });
    // One redis-server and one FerretDB on the folder, the same two processes.
    expect(await serversOn(dataDir)).toEqual(before);
    expect(log).toContain(
      `reusing redis-server pid ${before.redis[0]} on port ${portOf(first.redisUrl)} left by process ${first.child.pid}, which died`,
    );
    expect(log).toContain(
      `reusing ferretdb pid ${before.ferretdb[0]} on port ${portOf(first.mongoUrl)} left by process ${first.child.pid}, which died`,
    );
    expect(second.redisUrl).toBe(first.redisUrl);
    expect(second.mongoUrl).toBe(first.mongoUrl);
    expect(await askTcp('127.0.0.1', portOf(second.redisUrl), 'EXISTS queued-job\r\n', 2000)).toBe(':1\r\n');
    const record = JSON.parse(await readFile(recordFile(join(dataDir, 'redis')), 'utf8')) as ServerRecord;
    expect(record).toMatchObject({ pid: before.redis[0], owner_pid: process.pid });

    // The servers it reused are its own now: its stop stops them and removes their records.
    await second.stop();
    stopped = true;
    expect(await serversOn(dataDir)).toEqual({ redis: [], ferretdb: [] });
    await expect(readFile(recordFile(join(dataDir, 'redis')), 'utf8')).rejects.toThrow('ENOENT');
    await expect(readFile(recordFile(join(dataDir, 'ferretdb')), 'utf8')).rejects.toThrow('ENOENT');
  });

  it('a stale record naming a dead pid, or a pid that is now another program, kills nothing and is replaced', async () => {
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH (the test setup installs it)');
    const dataDir = await dataFolder();
    const redisDir = join(dataDir, 'redis');
    const gone = spawn(process.execPath, ['-e', '']);
    await once(gone, 'exit');
    const deadPid = gone.pid as number;
    // Another program, alive, whose pid a record could name after the pid was recycled.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore' });
    const otherExit = once(other, 'exit');
    cleanups.push(async () => {
      if (other.exitCode === null && other.signalCode === null) {
        other.kill('SIGKILL');
        await otherExit;
      }
    });
    const otherPid = other.pid as number;

    for (const [pid, says] of [
      [deadPid, `removing the stale record of redis-server pid ${deadPid}: that process is gone`],
      [
        otherPid,
        `removing the stale record of redis-server pid ${otherPid}: that pid is now another program (node), left alone`,
      ],
    ] as const) {
      // A record as a start that died would leave it; the port answers (this test's own server) to tempt a reuse.
      const bait = await startRedisServer(binary, join(dataDir, 'bait'), { persistent: false });
      cleanups.push(() => bait.stop());
      const stale: ServerRecord = {
        server: 'redis-server',
        pid,
        port: portOf(bait.url),
        binary,
        data_dir: redisDir,
        started_at: new Date().toISOString(),
        owner_pid: deadPid,
      };
      await rm(redisDir, { recursive: true, force: true });
      await import('node:fs/promises').then((fs) => fs.mkdir(redisDir, { recursive: true }));
      await writeFile(recordFile(redisDir), JSON.stringify(stale));

      const log: string[] = [];
      const server = await startRedisServer(binary, redisDir, {
        persistent: true,
        owner: { log: (m) => log.push(m) },
      });
      cleanups.push(() => server.stop());
      expect(log).toEqual([says]);
      expect(server.url).not.toBe(bait.url);
      expect(await redisAnswers('127.0.0.1', portOf(server.url))).toBe(true);
      expect(await redisAnswers('127.0.0.1', portOf(bait.url))).toBe(true);
      const record = JSON.parse(await readFile(recordFile(redisDir), 'utf8')) as ServerRecord;
      expect(record).toMatchObject({
        pid: (await serversOnFolder('redis-server', ['--dir', redisDir]))[0],
        owner_pid: process.pid,
      });
      await server.stop();
      await bait.stop();
    }
    expect(other.exitCode === null && other.signalCode === null).toBe(true);
  });

  it('a redis-server on the folder that no record names (left by an older start) is stopped before a new one starts', async () => {
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH (the test setup installs it)');
    const dataDir = await dataFolder();
    const redisDir = join(dataDir, 'redis');
    const unrecorded = await startRedisServer(binary, redisDir, { persistent: true, port: await freePort() });
    cleanups.push(() => unrecorded.stop());
    const [orphan] = await serversOnFolder('redis-server', ['--dir', redisDir]);

    const log: string[] = [];
    const server = await startRedisServer(binary, redisDir, {
      persistent: true,
      owner: { log: (m) => log.push(m) },
    });
    cleanups.push(() => server.stop());
    expect(log).toEqual([
      `stopping redis-server pid ${orphan} on ${redisDir}, which no record names (left by an earlier start)`,
    ]);
    const running = await serversOnFolder('redis-server', ['--dir', redisDir]);
    expect(running).toHaveLength(1);
    expect(running).not.toContain(orphan);
  });

  it('a server left on the folder that no longer answers on its port is stopped and a new one started', async () => {
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH (the test setup installs it)');
    const dataDir = await dataFolder();
    const redisDir = join(dataDir, 'redis');
    const left = await startRedisServer(binary, redisDir, { persistent: true, port: await freePort() });
    cleanups.push(() => left.stop());
    const [leftPid] = await serversOnFolder('redis-server', ['--dir', redisDir]);
    const gone = spawn(process.execPath, ['-e', '']);
    await once(gone, 'exit');
    // Its record names a port it does not answer on, as a server that hangs would not.
    const stale: ServerRecord = {
      server: 'redis-server',
      pid: leftPid as number,
      port: await freePort(),
      binary,
      data_dir: redisDir,
      owner_pid: gone.pid as number,
    };
    await writeFile(recordFile(redisDir), JSON.stringify(stale));

    const log: string[] = [];
    const server = await startRedisServer(binary, redisDir, {
      persistent: true,
      owner: { log: (m) => log.push(m) },
    });
    cleanups.push(() => server.stop());
    expect(log).toEqual([
      `stopping redis-server pid ${leftPid} left by process ${gone.pid}, which died: it does not answer`,
    ]);
    const running = await serversOnFolder('redis-server', ['--dir', redisDir]);
    expect(running).toHaveLength(1);
    expect(running).not.toContain(leftPid);
    expect(await redisAnswers('127.0.0.1', portOf(server.url))).toBe(true);
  });
});
