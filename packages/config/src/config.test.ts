import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadConfig,
  productionRefusal,
  readBenchSettings,
  readMachineEnvironment,
} from './config.js';

/** A value other than the default for every variable loadConfig reads. */
const EVERY_VARIABLE: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
  PORT: '8080',
  HOST: '0.0.0.0',
  PUBLIC_BASE_URL: 'https://images.example.com/',
  MONGO_URL: 'mongodb://db:27017/shop',
  REDIS_URL: 'redis://cache:6379/2',
  STORAGE_DIR: '/srv/images',
  STORAGE_MIN_FREE_BYTES: '1048576',
  S3_BUCKET: 'catalogue-images',
  S3_ENDPOINT: 'https://s3.example.com',
  S3_REGION: 'eu-west-3',
  S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  S3_SECRET_ACCESS_KEY: 'secret-example',
  S3_FORCE_PATH_STYLE: 'true',
  S3_PREFIX: '/outputs',
  S3_REQUEST_TIMEOUT_MS: '12000',
  OUTPUT_BASE_URL: 'https://cdn.example.com/',
  RETENTION_DAYS: '30',
  IMAGE_QUALITY: '60',
  FETCH_ALLOW_NETWORKS: '10.1.0.0/16',
  FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
  FETCH_TIMEOUT_MS: '5000',
  MAX_IMAGE_BYTES: '1000',
  MAX_IMAGE_PIXELS: '2000',
  FETCH_MAX_REDIRECTS: '2',
  FETCH_MAX_ATTEMPTS: '4',
  FETCH_RETRY_MAX_DELAY_MS: '2500',
  FETCH_CONCURRENCY: '32',
  FETCH_CONCURRENCY_PER_HOST: '8',
  MAX_UPLOAD_BYTES: '3000',
  MAX_ROWS: '10',
  MAX_URLS_PER_ROW: '3',
  UPLOAD_CONCURRENCY: '9',
  UPLOAD_CONCURRENCY_PER_KEY: '3',
  UPLOAD_SLOT_WAIT_MS: '2500',
  REQUEST_TIMEOUT_MS: '90000',
  HEADERS_TIMEOUT_MS: '4000',
  KEEP_ALIVE_TIMEOUT_MS: '2000',
  CONNECTION_IDLE_TIMEOUT_MS: '45000',
  WORKER_CONCURRENCY: '97',
  WORKER_CONCURRENCY_PER_KEY: '2',
  JOB_LOCK_MS: '9000',
  JOB_STALLED_INTERVAL_MS: '3000',
  WORKER_SHUTDOWN_GRACE_MS: '500',
  RECONCILE_INTERVAL_MS: '4000',
  REQUEST_MAX_DURATION_MS: '7200000',
  API_KEYS: ' one, two ,,',
  ADMIN_KEYS: 'ops-1',
  ADMIN_DASHBOARD_WRITE: 'yes',
  METRICS_TOKEN: ' scrape-me ',
  RATE_LIMIT_MAX: '5',
  RATE_LIMIT_WINDOW_MS: '1000',
  MAX_EVENT_LOOP_DELAY_MS: '250',
  CORS_ORIGINS: 'https://a.example,https://b.example',
  WORKER_METRICS_PORT: '0',
  WORKER_METRICS_HOST: '::1',
  WEBHOOK_URL: 'https://hooks.example.com/x',
  WEBHOOK_SECRET: 'whsec_c2VjcmV0',
  WEBHOOK_MAX_ATTEMPTS: '3',
  WEBHOOK_BACKOFF_MS: '100',
  WEBHOOK_TIMEOUT_MS: '2000',
  LOG_LEVEL: 'debug',
  SSE_MAX_STREAMS_PER_KEY: '4',
  SSE_MAX_STREAM_SECONDS: '600',
};

/** The variables a reader looks up, learnt by handing it an environment that records every lookup. */
function variablesRead(read: (environment: NodeJS.ProcessEnv) => unknown): string[] {
  const names = new Set<string>();
  const recording = new Proxy<NodeJS.ProcessEnv>(
    {},
    {
      get(target, property, receiver) {
        if (typeof property === 'string' && /^[A-Z][A-Z0-9_]*$/.test(property)) names.add(property);
        return Reflect.get(target, property, receiver);
      },
    },
  );
  read(recording);
  return [...names].sort();
}

describe('loadConfig', () => {
  it('gives the contract defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      publicBaseUrl: 'http://127.0.0.1:3000',
      mongoUrl: undefined,
      redisUrl: undefined,
      imageQuality: 50,
      storageMinFreeBytes: 268435456,
      fetch: {
        allowPrivateNetworks: false,
        timeoutMs: 15000,
        maxImageBytes: 26214400,
        maxImagePixels: 50000000,
      },
      upload: {
        maxUploadBytes: 52428800,
        maxRows: 100000,
        maxUrlsPerRow: 20,
        concurrency: 4,
        concurrencyPerKey: 2,
        slotWaitMs: 10_000,
      },
      clients: {
        requestTimeoutMs: 300000,
        headersTimeoutMs: 10000,
        keepAliveTimeoutMs: 5000,
        idleTimeoutMs: 60000,
      },
      jobs: {
        lockMs: 6000,
        stalledIntervalMs: 2000,
        shutdownGraceMs: 15000,
        reconcileIntervalMs: 30000,
        requestMaxDurationMs: 21600000,
      },
      apiKeys: [],
      rateLimit: { max: 600, windowMs: 60000 },
      maxEventLoopDelayMs: 1000,
      corsOrigins: [],
      workerMetricsPort: 9464,
      workerMetricsHost: '127.0.0.1',
      adminKeys: [],
      adminDashboardWrite: false,
      metricsToken: undefined,
      webhook: {
        defaultUrl: undefined,
        secret: undefined,
        maxAttempts: 8,
        backoffMs: 5000,
        timeoutMs: 10000,
      },
      logLevel: 'info',
      progressStreams: { maxStreamsPerKey: 10, maxStreamSeconds: 3600 },
    });
    expect(config.storageDir.endsWith('/data/images')).toBe(true);
    expect(config.workerConcurrency).toBeGreaterThanOrEqual(4);
    expect(config.workerConcurrencyPerKey).toBeLessThan(config.workerConcurrency);
  });

  it("keeps a quarter of the worker's product slots for other tenants unless told otherwise", () => {
    const slots = (env: Record<string, string>) => {
      const config = loadConfig(env);
      return [config.workerConcurrency, config.workerConcurrencyPerKey];
    };
    expect(slots({ WORKER_CONCURRENCY: '4' })).toEqual([4, 3]);
    expect(slots({ WORKER_CONCURRENCY: '8' })).toEqual([8, 6]);
    expect(slots({ WORKER_CONCURRENCY: '2' })).toEqual([2, 1]);
    // One slot cannot be shared: the one tenant at work takes it.
    expect(slots({ WORKER_CONCURRENCY: '1' })).toEqual([1, 1]);
    expect(slots({ WORKER_CONCURRENCY: '8', WORKER_CONCURRENCY_PER_KEY: '8' })).toEqual([8, 8]);
    expect(() => loadConfig({ WORKER_CONCURRENCY: '4', WORKER_CONCURRENCY_PER_KEY: '5' })).toThrow(
      /^Invalid configuration: WORKER_CONCURRENCY_PER_KEY must not exceed WORKER_CONCURRENCY \(got 5 and 4\)$/,
    );
  });

  it('reads every variable it knows, each into its setting', () => {
    // The variables loadConfig looks up, learnt from loadConfig itself: one added there and not here fails.
    expect(Object.keys(EVERY_VARIABLE).sort()).toEqual(variablesRead(loadConfig));
    expect(loadConfig(EVERY_VARIABLE)).toEqual({
      nodeEnv: 'production',
      port: 8080,
      host: '0.0.0.0',
      publicBaseUrl: 'https://images.example.com',
      mongoUrl: 'mongodb://db:27017/shop',
      redisUrl: 'redis://cache:6379/2',
      storageDir: '/srv/images',
      storageMinFreeBytes: 1048576,
      s3: {
        bucket: 'catalogue-images',
        endpoint: 'https://s3.example.com',
        region: 'eu-west-3',
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'secret-example',
        forcePathStyle: true,
        prefix: 'outputs/',
        requestTimeoutMs: 12000,
      },
      outputBaseUrl: 'https://cdn.example.com/outputs/',
      retentionDays: 30,
      imageQuality: 60,
      fetch: {
        allowNetworks: ['10.1.0.0/16'],
        allowPrivateNetworks: true,
        timeoutMs: 5000,
        maxImageBytes: 1000,
        maxImagePixels: 2000,
        maxRedirects: 2,
        maxAttempts: 4,
        retryMaxDelayMs: 2500,
        concurrency: 32,
        concurrencyPerHost: 8,
      },
      upload: {
        maxUploadBytes: 3000,
        maxRows: 10,
        maxUrlsPerRow: 3,
        concurrency: 9,
        concurrencyPerKey: 3,
        slotWaitMs: 2500,
      },
      clients: {
        requestTimeoutMs: 90000,
        headersTimeoutMs: 4000,
        keepAliveTimeoutMs: 2000,
        idleTimeoutMs: 45000,
      },
      workerConcurrency: 97,
      workerConcurrencyPerKey: 2,
      jobs: {
        lockMs: 9000,
        stalledIntervalMs: 3000,
        shutdownGraceMs: 500,
        reconcileIntervalMs: 4000,
        requestMaxDurationMs: 7200000,
      },
      apiKeys: ['one', 'two'],
      adminKeys: ['ops-1'],
      adminDashboardWrite: true,
      metricsToken: 'scrape-me',
      rateLimit: { max: 5, windowMs: 1000 },
      maxEventLoopDelayMs: 250,
      corsOrigins: ['https://a.example', 'https://b.example'],
      workerMetricsPort: 0,
      workerMetricsHost: '::1',
      webhook: {
        defaultUrl: 'https://hooks.example.com/x',
        secret: 'whsec_c2VjcmV0',
        maxAttempts: 3,
        backoffMs: 100,
        timeoutMs: 2000,
      },
      logLevel: 'debug',
      progressStreams: { maxStreamsPerKey: 4, maxStreamSeconds: 600 },
    });
    // Each value, set alone, moves the settings away from the defaults: none of them is ignored. (The bucket's
    // settings count only with a bucket, and the two halves of a key only together.)
    const base = (name: string): Record<string, string> => {
      if (!name.startsWith('S3_') || name === 'S3_BUCKET') return {};
      if (!name.startsWith('S3_ACCESS') && !name.startsWith('S3_SECRET')) return { S3_BUCKET: 'bkt' };
      return { S3_BUCKET: 'bkt', S3_ACCESS_KEY_ID: 'id', S3_SECRET_ACCESS_KEY: 'secret' };
    };
    const ignored = Object.entries(EVERY_VARIABLE)
      .filter(([name, value]) =>
        isDeepStrictEqual(loadConfig({ ...base(name), [name]: value }), loadConfig(base(name))),
      )
      .map(([name]) => name);
    expect(ignored).toEqual([]);
  });

  it("reads the machine's search path, Docker host and cache folder, and the benchmark's switches", () => {
    const machine = {
      PATH: '/opt/bin:/usr/bin',
      DOCKER_HOST: 'unix:///run/docker.sock',
      XDG_CACHE_HOME: '/c',
    };
    expect(Object.keys(machine).sort()).toEqual(variablesRead(readMachineEnvironment));
    expect(readMachineEnvironment(machine)).toEqual({
      path: '/opt/bin:/usr/bin',
      dockerHost: 'unix:///run/docker.sock',
      cacheHome: '/c',
    });
    expect(variablesRead(readBenchSettings)).toEqual(['BENCH_BASELINE', 'BENCH_QUICK']);
    expect(readBenchSettings({ BENCH_QUICK: ' yes ', BENCH_BASELINE: ' /srv/before ' })).toEqual({
      quick: true,
      baseline: '/srv/before',
    });
    expect(readBenchSettings({})).toEqual({ quick: false, baseline: undefined });
  });

  it('keeps outputs under STORAGE_DIR, served by the API, unless S3_BUCKET names a bucket', () => {
    const disk = loadConfig({ PUBLIC_BASE_URL: 'https://api.example.com/' });
    expect(disk.s3).toBeUndefined();
    expect(disk.outputBaseUrl).toBe('https://api.example.com/images/');
    expect(disk.retentionDays).toBe(0);

    const bucket = loadConfig({ S3_BUCKET: 'images', PUBLIC_BASE_URL: 'https://api.example.com' });
    expect(bucket.s3).toEqual({
      bucket: 'images',
      endpoint: undefined,
      region: 'us-east-1',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      forcePathStyle: false,
      prefix: '',
      requestTimeoutMs: 30000,
    });
    // Without OUTPUT_BASE_URL the API streams outputs from the bucket.
    expect(bucket.outputBaseUrl).toBe('https://api.example.com/images/');
    // A store other than AWS: path-style addresses unless told otherwise.
    expect(loadConfig({ S3_BUCKET: 'images', S3_ENDPOINT: 'http://127.0.0.1:8333' }).s3?.forcePathStyle).toBe(
      true,
    );
    expect(
      loadConfig({ S3_BUCKET: 'images', S3_ENDPOINT: 'http://127.0.0.1:8333', S3_FORCE_PATH_STYLE: 'no' }).s3
        ?.forcePathStyle,
    ).toBe(false);
    // A CDN in front of the bucket: its URL, then the object's key (the prefix and the output's name).
    const cdn = loadConfig({
      S3_BUCKET: 'images',
      S3_PREFIX: 'shop/outputs',
      OUTPUT_BASE_URL: 'https://cdn.example.com//',
    });
    expect(cdn.s3?.prefix).toBe('shop/outputs/');
    expect(cdn.outputBaseUrl).toBe('https://cdn.example.com/shop/outputs/');
    // A CDN in front of the API's /images/ for the disk store.
    expect(loadConfig({ OUTPUT_BASE_URL: 'https://cdn.example.com/images' }).outputBaseUrl).toBe(
      'https://cdn.example.com/images/',
    );
  });

  it.each([
    [
      { S3_ENDPOINT: 'http://127.0.0.1:8333' },
      /^Invalid configuration: S3_ENDPOINT is set but S3_BUCKET is not/,
    ],
    [{ S3_REGION: 'eu-west-1' }, /S3_REGION is set but S3_BUCKET is not/],
    [{ S3_BUCKET: 'bkt', S3_ACCESS_KEY_ID: 'id' }, /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together/],
    [
      { S3_BUCKET: 'bkt', S3_SECRET_ACCESS_KEY: 'secret' },
      /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together/,
    ],
    [{ S3_BUCKET: 'a bucket' }, /S3_BUCKET must be a bucket name/],
    [{ S3_BUCKET: 'bkt', S3_ENDPOINT: 's3.example.com' }, /S3_ENDPOINT must be an absolute http\(s\) URL/],
    [{ S3_BUCKET: 'bkt', S3_PREFIX: 'a/../b' }, /S3_PREFIX must not contain empty, "\." or "\.\." segments/],
    [{ S3_BUCKET: 'bkt', S3_PREFIX: 'a/./b' }, /S3_PREFIX must not contain empty/],
    [{ S3_BUCKET: 'bkt', S3_PREFIX: 'a//b' }, /S3_PREFIX must not contain empty/],
    [{ S3_BUCKET: 'Upper-Case' }, /S3_BUCKET must be a bucket name/],
    [{ S3_BUCKET: 'bucket-' }, /S3_BUCKET must be a bucket name/],
    [
      { OUTPUT_BASE_URL: 'https://cdn.example.com/?v=1' },
      /OUTPUT_BASE_URL must be an http\(s\) URL without a query/,
    ],
    [
      { OUTPUT_BASE_URL: 'https://user:pw@cdn.example.com/' },
      /OUTPUT_BASE_URL must be an http\(s\) URL without a query/,
    ],
    [{ S3_BUCKET: 'bkt', S3_REQUEST_TIMEOUT_MS: '600000' }, /S3_REQUEST_TIMEOUT_MS must be at most 120000/],
    [{ S3_BUCKET: 'bkt', S3_PREFIX: 'a b' }, /S3_PREFIX must be a key prefix/],
    [{ OUTPUT_BASE_URL: 'cdn.example.com' }, /OUTPUT_BASE_URL must be an absolute http\(s\) URL/],
    [{ RETENTION_DAYS: '-1' }, /RETENTION_DAYS must be a whole number/],
  ])('refuses the storage settings %o', (environment, message) => {
    expect(() => loadConfig(environment)).toThrow(message);
  });

  it('derives a reachable public base URL from a wildcard listen address', () => {
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '9000' }).publicBaseUrl).toBe('http://127.0.0.1:9000');
  });

  it.each([
    ['PORT', 'abc', /^Invalid configuration: PORT must be a whole number from 0 to 65535 \(got "abc"\)$/],
    ['PORT', '70000', /PORT must be at most 65535/],
    ['IMAGE_QUALITY', '0', /IMAGE_QUALITY must be at least 1/],
    ['FETCH_ALLOW_PRIVATE_NETWORKS', 'maybe', /FETCH_ALLOW_PRIVATE_NETWORKS must be true or false/],
    ['MONGO_URL', 'postgres://x', /MONGO_URL must be a URL starting with mongodb:\/\//],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL must be a URL starting with redis:\/\//],
    ['PUBLIC_BASE_URL', 'ftp://x', /PUBLIC_BASE_URL must be an absolute http\(s\) URL/],
    ['WEBHOOK_SECRET', 'plain', /WEBHOOK_SECRET must be whsec_ followed by a base64 key/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['UPLOAD_CONCURRENCY_PER_KEY', '0', /UPLOAD_CONCURRENCY_PER_KEY must be at least 1/],
    ['UPLOAD_SLOT_WAIT_MS', '-1', /UPLOAD_SLOT_WAIT_MS must be a whole number from 0 to 600000/],
    ['REQUEST_TIMEOUT_MS', '0', /REQUEST_TIMEOUT_MS must be at least 1000/],
    ['CONNECTION_IDLE_TIMEOUT_MS', '5000', /CONNECTION_IDLE_TIMEOUT_MS must be at least 20000/],
    ['STORAGE_MIN_FREE_BYTES', '256MB', /STORAGE_MIN_FREE_BYTES must be a whole number from 0 to/],
    ['SSE_MAX_STREAMS_PER_KEY', '0', /SSE_MAX_STREAMS_PER_KEY must be at least 1/],
    ['SSE_MAX_STREAM_SECONDS', '0', /SSE_MAX_STREAM_SECONDS must be at least 1/],
  ])('stops with one line naming %s when it is %s', (variable, value, message) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(message);
  });

  it('is frozen', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.fetch)).toBe(true);
  });
});

describe('FETCH_ALLOW_NETWORKS', () => {
  it('is empty by default: public addresses only', () => {
    expect(loadConfig({}).fetch.allowNetworks).toEqual([]);
  });

  it('reads a comma-separated list of networks, each as address/prefix', () => {
    const config = loadConfig({
      FETCH_ALLOW_NETWORKS: ' 10.1.0.0/16, 127.0.0.2 ,FD12:3456::/32,169.254.169.254/32,,::1',
    });
    expect(config.fetch.allowNetworks).toEqual([
      '10.1.0.0/16',
      '127.0.0.2/32',
      'fd12:3456::/32',
      '169.254.169.254/32',
      '::1/128',
    ]);
    expect(Object.isFrozen(config.fetch.allowNetworks)).toBe(true);
  });

  it.each([
    'intranet',
    '10.0.0.0/33',
    '10.0.0.0/8/8',
    'fd12::/129',
    '10.0.0.0/x',
    '127.1',
    'http://10.0.0.1/',
  ])('stops with one line naming the variable when an entry is %s', (entry) => {
    expect(() => loadConfig({ FETCH_ALLOW_NETWORKS: entry })).toThrow(ConfigError);
    expect(() => loadConfig({ FETCH_ALLOW_NETWORKS: entry })).toThrow(
      /^Invalid configuration: FETCH_ALLOW_NETWORKS must be a comma-separated list of networks/,
    );
  });
});

describe('operators, metrics and production', () => {
  it('reads operator keys, the dashboard switch, the metrics token and the worker metrics address', () => {
    const config = loadConfig({
      API_KEYS: 'tenant-1',
      ADMIN_KEYS: 'ops-1, ops-2',
      ADMIN_DASHBOARD_WRITE: 'true',
      METRICS_TOKEN: ' scrape-me ',
      WORKER_METRICS_HOST: '0.0.0.0',
    });
    expect(config).toMatchObject({
      adminKeys: ['ops-1', 'ops-2'],
      adminDashboardWrite: true,
      metricsToken: 'scrape-me',
      workerMetricsHost: '0.0.0.0',
    });
  });

  it('refuses an operator key that is also a tenant key, without printing it', () => {
    const load = () => loadConfig({ API_KEYS: 'a,shared-key', ADMIN_KEYS: 'shared-key' });
    expect(load).toThrow(/^Invalid configuration: ADMIN_KEYS must not repeat a key of API_KEYS/);
    expect(load).not.toThrow(/shared-key/);
  });

  it('refuses a headers timeout longer than the whole request may take', () => {
    const load = () => loadConfig({ REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '6000' });
    expect(load).toThrow(
      /^Invalid configuration: HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS \(got 6000 and 5000\)$/,
    );
  });

  it('names what production is missing: tenant keys for the API, a webhook secret for both programs', () => {
    const secret = 'whsec_c2VjcmV0';
    const production = (environment: Record<string, string>) =>
      loadConfig({ NODE_ENV: 'production', ...environment });
    expect(productionRefusal(production({ WEBHOOK_SECRET: secret }), 'api')).toMatch(/needs API_KEYS/);
    expect(productionRefusal(production({ API_KEYS: 'k' }), 'api')).toMatch(/needs WEBHOOK_SECRET/);
    expect(productionRefusal(production({}), 'worker')).toMatch(/needs WEBHOOK_SECRET/);
    expect(productionRefusal(production({ API_KEYS: 'k', WEBHOOK_SECRET: secret }), 'api')).toBeUndefined();
    expect(productionRefusal(production({ WEBHOOK_SECRET: secret }), 'worker')).toBeUndefined();
    expect(productionRefusal(loadConfig({}), 'api')).toBeUndefined();
  });
});
