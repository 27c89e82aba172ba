import { setTimeout as delay } from 'node:timers/promises';
import { httpFailureCode } from '@imgsvc/domain';
import { type Agent, request } from 'undici';
import type { AddressPolicy } from './address-policy.js';
import { DownloadSlots } from './concurrency-limit.js';
import { DownloadDeadline } from './download-deadline.js';
import { FetchError, findFetchError } from './fetch-errors.js';
import { checkUrlTarget, createGuardedAgent, type HostLookup } from './guarded-agent.js';

export interface ImageFetchOptions {
  /** Which addresses may be reached: checked on every URL, redirect and connection. */
  readonly addressPolicy: AddressPolicy;
  /**
   * Deadline for one whole download attempt, redirects and body included. It runs only while the download
   * holds its slots: waiting for one (behind other downloads from the same host) is not counted.
   */
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
  /** How host names are resolved; the system resolver unless given. */
  readonly lookup?: HostLookup;
}

/** What a server said identifies the version of what it sent (RFC 9110 ETag and Last-Modified). */
export interface SourceValidators {
  readonly etag?: string;
  readonly lastModified?: string;
}

export interface FetchedImage {
  readonly bytes: Buffer;
  /** Where the bytes came from after redirects. */
  readonly finalUrl: string;
  /** Attempts it took (1 when the first one worked). */
  readonly attempts: number;
  /** The final answer's validators, when it gave usable ones. */
  readonly validators?: SourceValidators;
}

/** The server confirmed that the version named by the validators is still current: nothing was downloaded. */
export interface NotModified {
  readonly notModified: true;
  readonly attempts: number;
}

export interface ImageFetcher {
  /**
   * Downloads an image. `cancel` stops it at once (a worker shutting down): the promise then rejects with the
   * signal's reason, not a FetchError, because the image itself is not at fault.
   */
  fetchImage(url: string, cancel?: AbortSignal): Promise<FetchedImage>;
  /**
   * Downloads an image unless the server confirms (304 Not Modified) that the version named by `validators`
   * is still the one at `url`.
   */
  fetchImageIfChanged(
    url: string,
    validators: SourceValidators,
    cancel?: AbortSignal,
  ): Promise<FetchedImage | NotModified>;
  close(): Promise<void>;
}

type Settings = Required<Omit<ImageFetchOptions, 'lookup'>>;

type HopOutcome =
  | { readonly kind: 'redirect'; readonly location: string | string[] | undefined; readonly status: number }
  | { readonly kind: 'body'; readonly bytes: Buffer; readonly validators?: SourceValidators }
  | { readonly kind: 'not-modified' };

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
    return new FetchError('fetch_timeout', `no complete answer within ${timeoutMs} ms`, { retryable: true });
  const code = String(
    (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code,
  );
  switch (code) {
    case 'EAI_AGAIN':
      return new FetchError('dns_error', 'the host name could not be resolved right now', {
        retryable: true,
      });
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new FetchError('fetch_timeout', `no complete answer within ${timeoutMs} ms`, {
        retryable: true,
      });
    default:
      return new FetchError(
        'connection_error',
        `the connection failed${code !== 'undefined' ? ` (${code})` : ''}`,
        { retryable: true },
      );
  }
}

/** A validator worth keeping and sending back: visible ASCII of a sane length, nothing a header could not carry. */
function validator(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value && value.length <= 256 && /^[\x20-\x7e]+$/.test(value) ? value : undefined;
}

function validatorsOf(headers: Record<string, string | string[] | undefined>): SourceValidators | undefined {
  const etag = validator(headers.etag);
  const lastModified = validator(headers['last-modified']);
  if (!etag && !lastModified) return undefined;
  return { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
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

/** One request of a download: its answer read whole, or the redirect it asks for. */
async function requestHop(
  agent: Agent,
  target: URL,
  settings: Settings,
  signal: AbortSignal,
  conditional: SourceValidators | undefined,
): Promise<HopOutcome> {
  const response = await request(target, {
    dispatcher: agent,
    method: 'GET',
    signal,
    headers: {
      'user-agent': settings.userAgent,
      accept: 'image/*,*/*;q=0.5',
      ...(conditional?.etag ? { 'if-none-match': conditional.etag } : {}),
      ...(conditional?.lastModified ? { 'if-modified-since': conditional.lastModified } : {}),
    },
  });
  if (response.statusCode === 304 && conditional) {
    await response.body.dump();
    return { kind: 'not-modified' };
  }
  if (REDIRECT_STATUSES.has(response.statusCode)) {
    await response.body.dump();
    return { kind: 'redirect', location: response.headers.location, status: response.statusCode };
  }
  if (response.statusCode < 200 || response.statusCode >= 300) {
    await response.body.dump();
    const retryable = response.statusCode === 429 || response.statusCode >= 500;
    throw new FetchError(
      httpFailureCode(response.statusCode),
      `the server answered ${response.statusCode}`,
      retryable ? { retryable, retryAfterMs: retryAfterMs(response.headers['retry-after']) } : {},
    );
  }
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > settings.maxBytes) {
    abandon(response.body);
    throw new FetchError('too_large', `${declared} bytes is more than the ${settings.maxBytes} allowed`);
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
  return {
    kind: 'body',
    bytes: Buffer.concat(chunks, received),
    validators: validatorsOf(response.headers),
  };
}

async function fetchOnce(
  agent: Agent,
  url: string,
  settings: Settings,
  slots: DownloadSlots,
  cancel: AbortSignal | undefined,
  conditions?: SourceValidators,
): Promise<Omit<FetchedImage, 'attempts'> | { readonly notModified: true }> {
  const deadline = new DownloadDeadline(settings.timeoutMs);
  const signal = cancel ? AbortSignal.any([deadline.signal, cancel]) : deadline.signal;
  let current = parseTarget(url);
  try {
    for (let redirects = 0; ; redirects += 1) {
      checkUrlTarget(current, settings.addressPolicy);
      const target = current;
      // The validators name a version of the URL asked for, not of where it may now redirect.
      const conditional = redirects === 0 ? conditions : undefined;
      // Each hop holds a slot of its own host; the wait for it is the only time that does not count.
      const release = await slots.acquire(target.host, cancel);
      deadline.start();
      let outcome: HopOutcome;
      try {
        outcome = await requestHop(agent, target, settings, signal, conditional);
      } finally {
        deadline.stop();
        release();
      }
      if (outcome.kind === 'not-modified') return { notModified: true };
      if (outcome.kind === 'body') {
        return {
          bytes: outcome.bytes,
          finalUrl: target.href,
          ...(outcome.validators ? { validators: outcome.validators } : {}),
        };
      }
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
    throw classify(error, deadline.signal, settings.timeoutMs);
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
    addressPolicy: settings.addressPolicy,
    connectTimeoutMs: Math.min(settings.timeoutMs, 10_000),
    connectionsPerOrigin: settings.concurrencyPerHost,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  const slots = new DownloadSlots(settings.concurrency, settings.concurrencyPerHost);
  const fetchWith = async (url: string, cancel?: AbortSignal, conditions?: SourceValidators) => {
    for (let attempt = 1; ; attempt += 1) {
      cancel?.throwIfAborted();
      try {
        const fetched = await fetchOnce(agent, url, settings, slots, cancel, conditions);
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
  };
  return {
    async fetchImage(url, cancel) {
      const fetched = await fetchWith(url, cancel);
      // Without validators no server may answer 304 (it would be an http_304 failure): always a body here.
      if ('notModified' in fetched) throw new FetchError('http_304', 'the server answered 304');
      return fetched;
    },
    fetchImageIfChanged: (url, validators, cancel) => fetchWith(url, cancel, validators),
    close: () => agent.close(),
  };
}
