import { setTimeout as delay } from 'node:timers/promises';
import { type Agent, request } from 'undici';
import { KeyedSemaphore, Semaphore } from './concurrency-limit.js';
import { FetchError, findFetchError } from './fetch-errors.js';
import { checkUrlTarget, createGuardedAgent, type NetworkPolicy } from './guarded-agent.js';

export interface ImageFetchOptions extends NetworkPolicy {
  /** Deadline for one whole download attempt, redirects and body included. */
  readonly timeoutMs: number;
  /** Largest body accepted, checked against Content-Length and again while streaming. */
  readonly maxBytes: number;
  readonly maxRedirects?: number;
  /** Attempts for failures that may pass (timeouts, connection errors, 429, 5xx). */
  readonly attempts?: number;
  /** Base of the exponential backoff between attempts. */
  readonly retryBaseDelayMs?: number;
  /** Longest wait between attempts, whatever Retry-After asks for. */
  readonly retryMaxDelayMs?: number;
  /** Downloads at once through this fetcher, and per host. */
  readonly concurrency?: number;
  readonly concurrencyPerHost?: number;
  readonly userAgent?: string;
}

export interface FetchedImage {
  readonly bytes: Buffer;
  /** Where the bytes came from after redirects. */
  readonly finalUrl: string;
  /** Attempts it took (1 when the first one worked). */
  readonly attempts: number;
}

export interface ImageFetcher {
  /**
   * Downloads an image. `cancel` stops it at once (a worker shutting down): the promise then rejects with the
   * signal's reason, not a FetchError, because the image itself is not at fault.
   */
  fetchImage(url: string, cancel?: AbortSignal): Promise<FetchedImage>;
  close(): Promise<void>;
}

type Settings = Required<Omit<ImageFetchOptions, 'trustedAddresses'>> &
  Pick<ImageFetchOptions, 'trustedAddresses'>;

type HopOutcome =
  | { readonly kind: 'redirect'; readonly location: string | string[] | undefined; readonly status: number }
  | { readonly kind: 'body'; readonly bytes: Buffer };

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Retry-After as seconds or an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function classify(error: unknown, deadline: AbortSignal, timeoutMs: number): FetchError {
  const known = findFetchError(error);
  if (known) return known;
  if (deadline.aborted)
    return new FetchError('fetch_timeout', `no complete answer within ${timeoutMs} ms`, true);
  const code = String(
    (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code,
  );
  switch (code) {
    case 'ENOTFOUND':
      return new FetchError('dns_error', 'the host name does not resolve');
    case 'EAI_AGAIN':
      return new FetchError('dns_error', 'the host name could not be resolved right now', true);
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new FetchError('fetch_timeout', `no complete answer within ${timeoutMs} ms`, true);
    default:
      return new FetchError(
        'connection_error',
        `the connection failed${code !== 'undefined' ? ` (${code})` : ''}`,
        true,
      );
  }
}

/** Drops a body mid-way; the connection is closed rather than read to the end. */
function abandon(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

function parseTarget(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new FetchError('bad_redirect', 'not an absolute URL');
  }
}

async function fetchOnce(
  agent: Agent,
  url: string,
  settings: Settings,
  perHost: KeyedSemaphore,
  cancel: AbortSignal | undefined,
): Promise<Omit<FetchedImage, 'attempts'>> {
  const deadline = AbortSignal.timeout(settings.timeoutMs);
  const signal = cancel ? AbortSignal.any([deadline, cancel]) : deadline;
  let current = parseTarget(url);
  try {
    for (let redirects = 0; ; redirects += 1) {
      checkUrlTarget(current, settings);
      const target = current;
      const outcome = await perHost.run(target.host, async (): Promise<HopOutcome> => {
        const response = await request(target, {
          dispatcher: agent,
          method: 'GET',
          signal,
          headers: { 'user-agent': settings.userAgent, accept: 'image/*,*/*;q=0.5' },
        });
        if (REDIRECT_STATUSES.has(response.statusCode)) {
          await response.body.dump();
          return { kind: 'redirect', location: response.headers.location, status: response.statusCode };
        }
        if (response.statusCode < 200 || response.statusCode >= 300) {
          await response.body.dump();
          const retryable = response.statusCode === 429 || response.statusCode >= 500;
          throw new FetchError(
            `http_${response.statusCode}`,
            `the server answered ${response.statusCode}`,
            retryable,
            retryable ? retryAfterMs(response.headers['retry-after']) : undefined,
          );
        }
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > settings.maxBytes) {
          abandon(response.body);
          throw new FetchError(
            'too_large',
            `${declared} bytes is more than the ${settings.maxBytes} allowed`,
          );
        }
        const chunks: Buffer[] = [];
        let received = 0;
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          received += chunk.length;
          if (received > settings.maxBytes) {
            abandon(response.body);
            throw new FetchError('too_large', `the body passed the ${settings.maxBytes} bytes allowed`);
          }
          chunks.push(chunk);
        }
        return { kind: 'body', bytes: Buffer.concat(chunks, received) };
      });
      if (outcome.kind === 'body') return { bytes: outcome.bytes, finalUrl: target.href };
      if (redirects >= settings.maxRedirects) {
        throw new FetchError('too_many_redirects', `more than ${settings.maxRedirects} redirects`);
      }
      if (typeof outcome.location !== 'string' || outcome.location === '') {
        throw new FetchError('bad_redirect', `a ${outcome.status} answer without a Location`);
      }
      try {
        current = new URL(outcome.location, target);
      } catch {
        throw new FetchError('bad_redirect', 'a redirect to an invalid URL');
      }
    }
  } catch (error) {
    if (cancel?.aborted) throw cancel.reason;
    throw classify(error, deadline, settings.timeoutMs);
  }
}

/**
 * Downloads images over a guarded keep-alive pool: each connection's address is checked, redirects are
 * followed hop by hop and checked again, bodies and time are limited, failures that may pass are retried with
 * exponential backoff and full jitter (or the server's Retry-After, capped), and downloads are limited in
 * number overall and per host.
 */
export function createImageFetcher(options: ImageFetchOptions): ImageFetcher {
  const settings: Settings = {
    maxRedirects: 5,
    attempts: 3,
    retryBaseDelayMs: 250,
    retryMaxDelayMs: 10_000,
    concurrency: 16,
    concurrencyPerHost: 4,
    userAgent: 'image-service/0.1',
    ...options,
  };
  const agent = createGuardedAgent({
    allowPrivateNetworks: settings.allowPrivateNetworks,
    trustedAddresses: settings.trustedAddresses,
    connectTimeoutMs: Math.min(settings.timeoutMs, 10_000),
    connectionsPerOrigin: settings.concurrencyPerHost,
  });
  const overall = new Semaphore(settings.concurrency);
  const perHost = new KeyedSemaphore(settings.concurrencyPerHost);
  return {
    async fetchImage(url, cancel) {
      for (let attempt = 1; ; attempt += 1) {
        cancel?.throwIfAborted();
        try {
          const fetched = await overall.run(() => fetchOnce(agent, url, settings, perHost, cancel));
          return { ...fetched, attempts: attempt };
        } catch (error) {
          if (cancel?.aborted) throw cancel.reason;
          const failure = error instanceof FetchError ? error : classify(error, AbortSignal.abort(), 0);
          if (!failure.retryable || attempt >= settings.attempts) throw failure;
          const backoff = Math.random() * settings.retryBaseDelayMs * 2 ** (attempt - 1);
          await delay(Math.min(settings.retryMaxDelayMs, failure.retryAfterMs ?? backoff), undefined, {
            signal: cancel,
          });
        }
      }
    },
    close: () => agent.close(),
  };
}
