import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

/** The whole service's settings, read once from the environment, validated and frozen. */
export interface Config {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  readonly publicBaseUrl: string;
  /** Unset means "use local servers" (only `npm start` and `npm run services` start them). */
  readonly mongoUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly storageDir: string;
  /** Free space on the storage below which no image is encoded or written: jobs wait for space instead. */
  readonly storageMinFreeBytes: number;
  /** The bucket outputs are kept in (S3_BUCKET selects it); undefined: the folder under STORAGE_DIR. */
  readonly s3: S3Settings | undefined;
  /**
   * How every output URL starts, ending with a slash; the output's key completes it. OUTPUT_BASE_URL (a CDN
   * or the bucket's own address, with S3_PREFIX) when set, the API's `/images/` otherwise.
   */
  readonly outputBaseUrl: string;
  /** Days after which finished requests, their products and their unshared outputs are deleted; 0: never. */
  readonly retentionDays: number;
  readonly imageQuality: number;
  readonly fetch: {
    /**
     * Networks (CIDR, normalised) that image and webhook URLs may reach besides public addresses. Link-local
     * and metadata addresses are opened only by entries that name them exactly (see @imgsvc/fetching).
     */
    readonly allowNetworks: readonly string[];
    /** Alias for loopback, RFC 1918 and unique-local ranges (never link-local or metadata addresses). */
    readonly allowPrivateNetworks: boolean;
    readonly timeoutMs: number;
    readonly maxImageBytes: number;
    readonly maxImagePixels: number;
    readonly maxRedirects: number;
    /** Attempts per image for failures that may pass: timeouts, connection errors, 429 and 5xx. */
    readonly maxAttempts: number;
    /** Longest wait between attempts, Retry-After included. */
    readonly retryMaxDelayMs: number;
    /** Downloads at once per worker process, and per host. */
    readonly concurrency: number;
    readonly concurrencyPerHost: number;
  };
  readonly upload: {
    readonly maxUploadBytes: number;
    readonly maxRows: number;
    readonly maxUrlsPerRow: number;
    /** Uploads in flight at once in this API process, and per tenant key (or, without keys, for everyone). */
    readonly concurrency: number;
    readonly concurrencyPerKey: number;
    /** How long an upload waits for a free slot before it is refused. */
    readonly slotWaitMs: number;
  };
  /** How long the API waits on a client before it closes the connection. */
  readonly clients: {
    /** Receiving a whole request, body included (not the answer: live progress streams are not cut). */
    readonly requestTimeoutMs: number;
    /** Receiving a request's headers. */
    readonly headersTimeoutMs: number;
    /** An idle kept-alive connection between requests. */
    readonly keepAliveTimeoutMs: number;
    /** A connection on which nothing moves either way (a client that stops reading an answer). */
    readonly idleTimeoutMs: number;
  };
  /** Product jobs at once per worker process, all tenants together. */
  readonly workerConcurrency: number;
  /** Product jobs of one tenant (API key) at once per worker process: the rest are left for other tenants. */
  readonly workerConcurrencyPerKey: number;
  readonly jobs: {
    /** How long a worker's claim on a job lasts without renewal: a crashed worker's jobs return after it. */
    readonly lockMs: number;
    /** How often workers look for jobs whose claim has lapsed. */
    readonly stalledIntervalMs: number;
    /** On SIGTERM, how long running jobs may finish before they are handed back to the queue. */
    readonly shutdownGraceMs: number;
    /** How often one worker looks for unfinished requests that no job moves any more, and queues them again. */
    readonly reconcileIntervalMs: number;
    /** A request's time budget from its upload: images not started by then fail as request_timeout. */
    readonly requestMaxDurationMs: number;
  };
  /** Tenant keys: each sees only its own requests. */
  readonly apiKeys: readonly string[];
  /** Operator keys for /admin; none means /admin is off. Never the same as a tenant key. */
  readonly adminKeys: readonly string[];
  /** Whether operators may pause, clean and retry from the queue dashboard (read-only otherwise). */
  readonly adminDashboardWrite: boolean;
  /** Bearer token both programs' /metrics require when set. */
  readonly metricsToken: string | undefined;
  readonly rateLimit: { readonly max: number; readonly windowMs: number };
  /** Event-loop delay past which the API sheds load with 503 (0 turns shedding off). */
  readonly maxEventLoopDelayMs: number;
  readonly corsOrigins: readonly string[];
  readonly workerMetricsPort: number;
  readonly workerMetricsHost: string;
  readonly webhook: {
    readonly defaultUrl: string | undefined;
    readonly secret: string | undefined;
    readonly maxAttempts: number;
    readonly backoffMs: number;
    /** Deadline of one delivery attempt. */
    readonly timeoutMs: number;
  };
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Live progress streams (server-sent events) of the API. */
  readonly progressStreams: {
    /** Streams one tenant key (or, without keys, one address) may hold open at once in one API process. */
    readonly maxStreamsPerKey: number;
    /** Age at which a stream ends and tells its client to reconnect. */
    readonly maxStreamSeconds: number;
  };
}

/** An S3-compatible bucket, as the S3_* settings give it. */
export interface S3Settings {
  readonly bucket: string;
  /** Undefined for AWS S3 itself. */
  readonly endpoint: string | undefined;
  readonly region: string;
  /** Both or neither: then the AWS SDK's default credential chain. */
  readonly accessKeyId: string | undefined;
  readonly secretAccessKey: string | undefined;
  readonly forcePathStyle: boolean;
  /** Empty, or ends with a slash. */
  readonly prefix: string;
  readonly requestTimeoutMs: number;
}

/** A setting that cannot be used; its message is one line that names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const unset = (value: unknown) => (value === '' ? undefined : value);

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*\d+\s*$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const integer = (min: number, max: number, fallback: number) =>
  z.preprocess(
    unset,
    wholeNumber(min, max)
      .optional()
      .transform((value) => value ?? fallback),
  );

/** A number whose absence means something of its own (undefined). */
const optionalInteger = (min: number, max: number) => z.preprocess(unset, wholeNumber(min, max).optional());

const flagValue = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], 'must be true or false'))
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

const flag = (fallback: boolean) =>
  z.preprocess(
    unset,
    flagValue.optional().transform((value) => value ?? fallback),
  );

/** A flag whose absence means something of its own (undefined). */
const optionalFlag = z.preprocess(unset, flagValue.optional());

const httpUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL');

/** An address that output keys are appended to: nothing after its path, and no credentials in it. */
const baseUrl = httpUrl.refine((value) => {
  if (!URL.canParse(value)) return true;
  const url = new URL(value);
  return url.search === '' && url.hash === '' && url.username === '' && url.password === '';
}, 'must be an http(s) URL without a query, fragment or credentials (output keys are appended to it)');

const connectionUrl = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );

const list = z.preprocess(
  unset,
  z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    ),
);

/** `address/prefix` (or a bare address, one host), normalised to `address/prefix`; undefined if invalid. */
function normaliseNetwork(entry: string): string | undefined {
  const [address = '', prefix, ...rest] = entry.trim().split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (prefix === undefined) return `${address.toLowerCase()}/${bits}`;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) return undefined;
  return `${address.toLowerCase()}/${Number(prefix)}`;
}

const networkList = list.superRefine((entries, context) => {
  const invalid = entries.find((entry) => normaliseNetwork(entry) === undefined);
  if (invalid !== undefined) {
    context.addIssue({
      code: 'custom',
      message: `must be a comma-separated list of networks such as 10.1.0.0/16, fd12::/64 or 127.0.0.1 ("${invalid}" is not one)`,
    });
  }
});

const environmentSchema = z.object({
  NODE_ENV: z.preprocess(unset, z.enum(['development', 'production', 'test']).default('development')),
  PORT: integer(0, 65535, 3000),
  HOST: z.preprocess(unset, z.string().trim().min(1).default('127.0.0.1')),
  PUBLIC_BASE_URL: z.preprocess(unset, httpUrl.optional()),
  MONGO_URL: z.preprocess(unset, connectionUrl(['mongodb:', 'mongodb+srv:']).optional()),
  REDIS_URL: z.preprocess(unset, connectionUrl(['redis:', 'rediss:']).optional()),
  STORAGE_DIR: z.preprocess(unset, z.string().default('./data/images')),
  // 256 MiB: several of the largest outputs the pixel limit allows (a 50-megapixel palette PNG is up to 50 MB),
  // one per encoding core, still fit above it, and the disk keeps room for whatever else writes to it.
  STORAGE_MIN_FREE_BYTES: integer(0, 1_099_511_627_776, 268_435_456),
  S3_BUCKET: z.preprocess(
    unset,
    z
      .string()
      .trim()
      .regex(
        /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/,
        'must be a bucket name: 3 to 222 lower-case letters, digits, dots, dashes or underscores',
      )
      .optional(),
  ),
  S3_ENDPOINT: z.preprocess(unset, httpUrl.optional()),
  S3_REGION: z.preprocess(
    unset,
    z
      .string()
      .trim()
      .regex(/^[a-z0-9-]{1,64}$/, 'must be a region name such as us-east-1')
      .optional(),
  ),
  S3_ACCESS_KEY_ID: z.preprocess(unset, z.string().trim().min(1).optional()),
  S3_SECRET_ACCESS_KEY: z.preprocess(unset, z.string().trim().min(1).optional()),
  // Unset: path style when S3_ENDPOINT names a store other than AWS, virtual-hosted style for AWS.
  S3_FORCE_PATH_STYLE: optionalFlag,
  S3_PREFIX: z.preprocess(
    unset,
    z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9!_.*'()/-]{1,512}$/, "must be a key prefix of letters, digits and -_.!*'()/")
      .refine(
        (value) =>
          value
            .replace(/^\/+/, '')
            .replace(/\/$/, '')
            .split('/')
            .every((segment) => segment !== '' && segment !== '.' && segment !== '..'),
        'must not contain empty, "." or ".." segments',
      )
      .optional(),
  ),
  S3_REQUEST_TIMEOUT_MS: optionalInteger(100, 120_000),
  OUTPUT_BASE_URL: z.preprocess(unset, baseUrl.optional()),
  RETENTION_DAYS: integer(0, 36_500, 0),
  IMAGE_QUALITY: integer(1, 100, 50),
  FETCH_ALLOW_NETWORKS: networkList,
  FETCH_ALLOW_PRIVATE_NETWORKS: flag(false),
  FETCH_TIMEOUT_MS: integer(100, 600_000, 15_000),
  MAX_IMAGE_BYTES: integer(1, 1_073_741_824, 26_214_400),
  MAX_IMAGE_PIXELS: integer(1, 1_000_000_000, 50_000_000),
  FETCH_MAX_REDIRECTS: integer(0, 20, 5),
  FETCH_MAX_ATTEMPTS: integer(1, 10, 3),
  FETCH_RETRY_MAX_DELAY_MS: integer(0, 300_000, 10_000),
  FETCH_CONCURRENCY: integer(1, 1024, 16),
  FETCH_CONCURRENCY_PER_HOST: integer(1, 256, 4),
  MAX_UPLOAD_BYTES: integer(1, 1_073_741_824, 52_428_800),
  MAX_ROWS: integer(1, 10_000_000, 100_000),
  MAX_URLS_PER_ROW: integer(1, 1000, 20),
  UPLOAD_CONCURRENCY: integer(1, 100_000, 4),
  UPLOAD_CONCURRENCY_PER_KEY: integer(1, 100_000, 2),
  UPLOAD_SLOT_WAIT_MS: integer(0, 600_000, 10_000),
  // Five minutes lets a MAX_UPLOAD_BYTES (50 MiB) upload finish at 175 kB/s (1.4 Mbit/s), a slow uplink.
  REQUEST_TIMEOUT_MS: integer(1000, 3_600_000, 300_000),
  HEADERS_TIMEOUT_MS: integer(100, 600_000, 10_000),
  KEEP_ALIVE_TIMEOUT_MS: integer(100, 600_000, 5000),
  // Above the 15 s heartbeat of live progress streams, which would otherwise be cut while nothing changes.
  CONNECTION_IDLE_TIMEOUT_MS: integer(20_000, 3_600_000, 60_000),
  // Product jobs mostly wait on the network; encoding is limited to one image per core on its own.
  WORKER_CONCURRENCY: integer(1, 256, Math.max(4, 2 * availableParallelism())),
  // 0: all but a quarter of WORKER_CONCURRENCY (at least one slot kept for other tenants).
  WORKER_CONCURRENCY_PER_KEY: integer(0, 256, 0),
  JOB_LOCK_MS: integer(1000, 600_000, 6000),
  JOB_STALLED_INTERVAL_MS: integer(500, 600_000, 2000),
  WORKER_SHUTDOWN_GRACE_MS: integer(0, 600_000, 15_000),
  RECONCILE_INTERVAL_MS: integer(1000, 3_600_000, 30_000),
  REQUEST_MAX_DURATION_MS: integer(1000, 30 * 24 * 3_600_000, 6 * 3_600_000),
  API_KEYS: list,
  ADMIN_KEYS: list,
  ADMIN_DASHBOARD_WRITE: flag(false),
  METRICS_TOKEN: z.preprocess(unset, z.string().trim().min(1).optional()),
  RATE_LIMIT_MAX: integer(1, 1_000_000_000, 600),
  RATE_LIMIT_WINDOW_MS: integer(1, 86_400_000, 60_000),
  MAX_EVENT_LOOP_DELAY_MS: integer(0, 600_000, 1000),
  CORS_ORIGINS: list,
  WORKER_METRICS_PORT: integer(0, 65535, 9464),
  WORKER_METRICS_HOST: z.preprocess(unset, z.string().trim().min(1).default('127.0.0.1')),
  WEBHOOK_URL: z.preprocess(unset, httpUrl.optional()),
  WEBHOOK_SECRET: z.preprocess(
    unset,
    z
      .string()
      .trim()
      .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be whsec_ followed by a base64 key')
      .optional(),
  ),
  WEBHOOK_MAX_ATTEMPTS: integer(1, 100, 8),
  WEBHOOK_BACKOFF_MS: integer(1, 86_400_000, 5000),
  WEBHOOK_TIMEOUT_MS: integer(100, 600_000, 10_000),
  LOG_LEVEL: z.preprocess(
    unset,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  SSE_MAX_STREAMS_PER_KEY: integer(1, 100_000, 10),
  SSE_MAX_STREAM_SECONDS: integer(1, 86_400, 3600),
});

/** Every variable the configuration reads, in the order the schema lists them (.env.example lists each once). */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.keys(environmentSchema.shape));

function describeValue(value: unknown): string {
  if (value === undefined) return 'unset';
  const text = String(value);
  return `"${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`;
}

function defaultPublicBaseUrl(host: string, port: number): string {
  // A wildcard listen address is not one a client can reach; name the machine's loopback instead.
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const hostPart = reachable.includes(':') ? `[${reachable}]` : reachable;
  return `http://${hostPart}:${port}`;
}

/**
 * Reads the settings from the environment (process.env by default). Throws ConfigError naming the first
 * variable that is wrong; the programs print that one line and exit.
 */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(
      `Invalid configuration: ${variable} ${issue?.message ?? 'is invalid'} (got ${describeValue(environment[variable])})`,
    );
  }
  const env = parsed.data;
  const shared = env.ADMIN_KEYS.find((key) => env.API_KEYS.includes(key));
  if (shared !== undefined) {
    throw new ConfigError(
      'Invalid configuration: ADMIN_KEYS must not repeat a key of API_KEYS (an operator key is not a tenant key)',
    );
  }
  if (env.WORKER_CONCURRENCY_PER_KEY > env.WORKER_CONCURRENCY) {
    throw new ConfigError(
      `Invalid configuration: WORKER_CONCURRENCY_PER_KEY must not exceed WORKER_CONCURRENCY (got ${env.WORKER_CONCURRENCY_PER_KEY} and ${env.WORKER_CONCURRENCY})`,
    );
  }
  if (env.HEADERS_TIMEOUT_MS > env.REQUEST_TIMEOUT_MS) {
    throw new ConfigError(
      `Invalid configuration: HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS (got ${env.HEADERS_TIMEOUT_MS} and ${env.REQUEST_TIMEOUT_MS})`,
    );
  }
  const s3 = readS3Settings(env);
  const publicBaseUrl = (env.PUBLIC_BASE_URL ?? defaultPublicBaseUrl(env.HOST, env.PORT)).replace(/\/+$/, '');
  const config: Config = {
    nodeEnv: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    publicBaseUrl,
    mongoUrl: env.MONGO_URL,
    redisUrl: env.REDIS_URL,
    storageDir: resolve(env.STORAGE_DIR),
    storageMinFreeBytes: env.STORAGE_MIN_FREE_BYTES,
    s3,
    outputBaseUrl: env.OUTPUT_BASE_URL
      ? `${env.OUTPUT_BASE_URL.replace(/\/+$/, '')}/${s3?.prefix ?? ''}`
      : `${publicBaseUrl}/images/`,
    retentionDays: env.RETENTION_DAYS,
    imageQuality: env.IMAGE_QUALITY,
    fetch: {
      allowNetworks: env.FETCH_ALLOW_NETWORKS.map((entry) => normaliseNetwork(entry) as string),
      allowPrivateNetworks: env.FETCH_ALLOW_PRIVATE_NETWORKS,
      timeoutMs: env.FETCH_TIMEOUT_MS,
      maxImageBytes: env.MAX_IMAGE_BYTES,
      maxImagePixels: env.MAX_IMAGE_PIXELS,
      maxRedirects: env.FETCH_MAX_REDIRECTS,
      maxAttempts: env.FETCH_MAX_ATTEMPTS,
      retryMaxDelayMs: env.FETCH_RETRY_MAX_DELAY_MS,
      concurrency: env.FETCH_CONCURRENCY,
      concurrencyPerHost: env.FETCH_CONCURRENCY_PER_HOST,
    },
    upload: {
      maxUploadBytes: env.MAX_UPLOAD_BYTES,
      maxRows: env.MAX_ROWS,
      maxUrlsPerRow: env.MAX_URLS_PER_ROW,
      concurrency: env.UPLOAD_CONCURRENCY,
      concurrencyPerKey: env.UPLOAD_CONCURRENCY_PER_KEY,
      slotWaitMs: env.UPLOAD_SLOT_WAIT_MS,
    },
    clients: {
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      headersTimeoutMs: env.HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
      idleTimeoutMs: env.CONNECTION_IDLE_TIMEOUT_MS,
    },
    workerConcurrency: env.WORKER_CONCURRENCY,
    workerConcurrencyPerKey:
      env.WORKER_CONCURRENCY_PER_KEY ||
      Math.max(1, env.WORKER_CONCURRENCY - Math.max(1, Math.floor(env.WORKER_CONCURRENCY / 4))),
    jobs: {
      lockMs: env.JOB_LOCK_MS,
      stalledIntervalMs: env.JOB_STALLED_INTERVAL_MS,
      shutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_MS,
      reconcileIntervalMs: env.RECONCILE_INTERVAL_MS,
      requestMaxDurationMs: env.REQUEST_MAX_DURATION_MS,
    },
    apiKeys: env.API_KEYS,
    adminKeys: env.ADMIN_KEYS,
    adminDashboardWrite: env.ADMIN_DASHBOARD_WRITE,
    metricsToken: env.METRICS_TOKEN,
    rateLimit: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
    maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
    corsOrigins: env.CORS_ORIGINS,
    workerMetricsPort: env.WORKER_METRICS_PORT,
    workerMetricsHost: env.WORKER_METRICS_HOST,
    webhook: {
      defaultUrl: env.WEBHOOK_URL,
      secret: env.WEBHOOK_SECRET,
      maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
      backoffMs: env.WEBHOOK_BACKOFF_MS,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    },
    logLevel: env.LOG_LEVEL,
    progressStreams: {
      maxStreamsPerKey: env.SSE_MAX_STREAMS_PER_KEY,
      maxStreamSeconds: env.SSE_MAX_STREAM_SECONDS,
    },
  };
  return deepFreeze(config);
}

type Environment = z.infer<typeof environmentSchema>;

/** The bucket's settings when S3_BUCKET is set; the other S3_* settings without it are a mistake, said so. */
function readS3Settings(env: Environment): S3Settings | undefined {
  if (!env.S3_BUCKET) {
    const stray = (
      [
        'S3_ENDPOINT',
        'S3_REGION',
        'S3_ACCESS_KEY_ID',
        'S3_SECRET_ACCESS_KEY',
        'S3_FORCE_PATH_STYLE',
        'S3_PREFIX',
        'S3_REQUEST_TIMEOUT_MS',
      ] as const
    ).find((name) => env[name] !== undefined);
    if (stray) {
      throw new ConfigError(
        `Invalid configuration: ${stray} is set but S3_BUCKET is not (S3_BUCKET selects the bucket)`,
      );
    }
    return undefined;
  }
  if ((env.S3_ACCESS_KEY_ID === undefined) !== (env.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError(
      'Invalid configuration: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (set both, or neither for the default credential chain)',
    );
  }
  const prefix = (env.S3_PREFIX ?? '').replace(/^\/+/, '');
  return {
    bucket: env.S3_BUCKET,
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION ?? 'us-east-1',
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    forcePathStyle: env.S3_FORCE_PATH_STYLE ?? env.S3_ENDPOINT !== undefined,
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
    requestTimeoutMs: env.S3_REQUEST_TIMEOUT_MS ?? 30_000,
  };
}

/**
 * Why a program must not run in production with these settings, in one line; undefined when it may. The API
 * serves tenants, so it needs their keys; both programs let uploads name webhooks, which must be signed.
 */
export function productionRefusal(config: Config, program: 'api' | 'worker'): string | undefined {
  if (config.nodeEnv !== 'production') return undefined;
  if (program === 'api' && config.apiKeys.length === 0) {
    return 'NODE_ENV=production needs API_KEYS: refusing to serve an open API';
  }
  if (!config.webhook.secret) {
    return 'NODE_ENV=production needs WEBHOOK_SECRET: refusing to send unsigned webhooks';
  }
  return undefined;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object' && !Object.isFrozen(child)) deepFreeze(child);
  }
  return Object.freeze(value);
}

/** What the local-services module needs to know about this machine (not service settings). */
export interface MachineEnvironment {
  readonly path: string;
  readonly dockerHost: string | undefined;
  readonly cacheHome: string | undefined;
}

export function readMachineEnvironment(environment: NodeJS.ProcessEnv = process.env): MachineEnvironment {
  return Object.freeze({
    path: environment.PATH ?? '',
    dockerHost: environment.DOCKER_HOST || undefined,
    cacheHome: environment.XDG_CACHE_HOME || undefined,
  });
}

/** Settings of `npm run bench` (a developer tool, not the service). */
export function readBenchSettings(environment: NodeJS.ProcessEnv = process.env): {
  readonly quick: boolean;
  /** Another checkout (with its node_modules) whose pipeline is measured in the same rounds, for before/after. */
  readonly baseline: string | undefined;
} {
  return Object.freeze({
    quick: /^(1|true|yes|on)$/i.test(environment.BENCH_QUICK?.trim() ?? ''),
    baseline: environment.BENCH_BASELINE?.trim() || undefined,
  });
}
