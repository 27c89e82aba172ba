/**
 * The deployment files as an operator uses them: `.env.example` copied to `.env` lists every setting the
 * programs read, with its default, and `docker compose config` (the real Docker Compose) hands every one of
 * them to the API and the worker, except the few the compose file fixes for containers.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, productionRefusal, readMachineEnvironment, SETTING_NAMES } from '@imgsvc/config';
import { type ComposeCommand, ensureCompose } from '@imgsvc/local-services';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

interface ExampleSetting {
  readonly name: string;
  readonly value: string;
  /** Uncommented: the value is the default. Commented: unset by default, the value is an example. */
  readonly active: boolean;
}

async function readEnvExample(): Promise<ExampleSetting[]> {
  const text = await readFile(join(ROOT, '.env.example'), 'utf8');
  return [...text.matchAll(/^(# )?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((match) => ({
    name: match[2] as string,
    value: match[3] as string,
    active: match[1] === undefined,
  }));
}

describe('.env.example', () => {
  it('lists every setting the configuration reads, each once, and nothing else', async () => {
    const names = (await readEnvExample()).map((setting) => setting.name);
    expect([...names].sort()).toEqual([...SETTING_NAMES].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it('shows the defaults: the uncommented lines configure exactly what an empty environment does', async () => {
    const active = Object.fromEntries(
      (await readEnvExample())
        .filter((setting) => setting.active)
        .map((setting) => [setting.name, setting.value]),
    );
    expect(Object.keys(active).length).toBeGreaterThan(40);
    expect(loadConfig(active)).toEqual(loadConfig({}));
  });

  it('gives example values the configuration accepts, all of them together', async () => {
    const all = Object.fromEntries((await readEnvExample()).map((setting) => [setting.name, setting.value]));
    const config = loadConfig(all);
    expect(config.s3?.bucket).toBe(all.S3_BUCKET);
    expect(config.apiKeys.length).toBeGreaterThan(0);
  });
});

/** What `docker compose config` makes of docker-compose.yml with the given .env. */
async function composeConfig(
  compose: ComposeCommand,
  envFile: string | undefined,
): Promise<{ services: Record<string, { environment?: Record<string, string> }>; stderr: string }> {
  const project = await mkdtemp(join(tmpdir(), 'compose-config-'));
  try {
    await copyFile(join(ROOT, 'docker-compose.yml'), join(project, 'docker-compose.yml'));
    if (envFile !== undefined) await writeFile(join(project, '.env'), envFile);
    const { stdout, stderr } = await run(compose.command, [...compose.args, 'config', '--format', 'json'], {
      cwd: project,
      // Only the machine's PATH: no variable of the test's own environment may leak into the interpolation.
      env: { PATH: readMachineEnvironment().path, HOME: process.env.HOME ?? project },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { ...JSON.parse(stdout), stderr };
  } finally {
    await rm(project, { recursive: true, force: true });
  }
}

const REQUIRED = {
  API_KEYS: 'tenant-key-1,tenant-key-2',
  WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  S3_ACCESS_KEY_ID: 'storage-access-key',
  S3_SECRET_ACCESS_KEY: 'storage-secret-key',
};

/** What the compose file fixes in each program's container, whatever .env says. */
const FIXED = {
  api: {
    NODE_ENV: 'production',
    HOST: '0.0.0.0',
    PORT: '3000',
    STORAGE_DIR: '/data/images',
    MONGO_URL: 'mongodb://mongo:27017/image_service',
    REDIS_URL: 'redis://redis:6379',
  },
  worker: {
    NODE_ENV: 'production',
    STORAGE_DIR: '/data/images',
    MONGO_URL: 'mongodb://mongo:27017/image_service',
    REDIS_URL: 'redis://redis:6379',
    WORKER_METRICS_HOST: '0.0.0.0',
  },
} as const;

describe('docker-compose.yml, through docker compose config', () => {
  let compose: ComposeCommand;
  beforeAll(async () => {
    const machine = readMachineEnvironment();
    const found = await ensureCompose(machine.path, machine.cacheHome, (message) =>
      process.stderr.write(`[compose] ${message}\n`),
    );
    if (!found)
      throw new Error('No Docker Compose and no Go to build it: install Go, then npm run install:compose');
    compose = found;
  });

  it('is clean with only the required settings, and configures programs that start in production', async () => {
    const env = `${Object.entries(REQUIRED)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n')}\n`;
    const { services, stderr } = await composeConfig(compose, env);
    expect(stderr).toBe('');
    expect(Object.keys(services).sort()).toEqual([
      'api',
      'mongo',
      'redis',
      'storage',
      'storage-bucket',
      'worker',
    ]);
    for (const program of ['api', 'worker'] as const) {
      const config = loadConfig(services[program]?.environment ?? {});
      expect(productionRefusal(config, program)).toBeUndefined();
      expect(config.s3).toMatchObject({
        bucket: 'images',
        endpoint: 'http://storage:8333',
        forcePathStyle: true,
      });
    }
  });

  it('refuses to start without a required setting, naming it', async () => {
    const { API_KEYS: _left, ...rest } = REQUIRED;
    const env = `${Object.entries(rest)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n')}\n`;
    await expect(composeConfig(compose, env)).rejects.toThrow(/API_KEYS/);
  });

  it('passes every setting of .env to both programs, but those fixed for containers', async () => {
    // .env.example with every line in use: defaults and examples (given a value where the example is empty).
    const settings = Object.fromEntries(
      (await readEnvExample()).map((setting) => [
        setting.name,
        setting.value === '' ? `value-of-${setting.name.toLowerCase()}` : setting.value,
      ]),
    );
    Object.assign(settings, REQUIRED);
    const env = `${Object.entries(settings)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n')}\n`;
    const { services } = await composeConfig(compose, env);
    for (const program of ['api', 'worker'] as const) {
      const environment = services[program]?.environment ?? {};
      const fixed: Record<string, string> = FIXED[program];
      const expected = Object.fromEntries(SETTING_NAMES.map((name) => [name, fixed[name] ?? settings[name]]));
      expect(environment, program).toEqual(expected);
      // And nothing the configuration does not read: a misspelt name would be silently ignored.
      expect(Object.keys(environment).filter((name) => !SETTING_NAMES.includes(name))).toEqual([]);
    }
  });
});
