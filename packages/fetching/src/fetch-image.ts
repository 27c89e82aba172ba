import { setTimeout as delay } from 'node:timers/promises';
import { type Agent, request } from 'undici';
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
  readonly retryBaseDelayMs?: number;
  readonly userAgent?: string;
}

export interface FetchedImage {
  readonly bytes: Buffer;
  /** Where the bytes came from after redirects. */
  readonly finalUrl: string;
}

export interface ImageFetcher {
  fetchImage(url: string): Promise<FetchedImage>;
  close(): Promise<void>;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

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

async function fetchOnce(
  agent: Agent,
  url: string,
  options: Required<ImageFetchOptions>,
): Promise<FetchedImage> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new FetchError('bad_redirect', 'not an absolute URL');
  }
  try {
    for (let redirects = 0; ; redirects += 1) {
      checkUrlTarget(current, options);
      const response = await request(current, {
        dispatcher: agent,
        method: 'GET',
        signal: deadline,
        headers: { 'user-agent': options.userAgent, accept: 'image/*,*/*;q=0.5' },
      });
      if (REDIRECT_STATUSES.has(response.statusCode)) {
        await response.body.dump();
        const location = response.headers.location;
        if (redirects >= options.maxRedirects) {
          throw new FetchError('too_many_redirects', `more than ${options.maxRedirects} redirects`);
        }
        if (typeof location !== 'string' || location === '') {
          throw new FetchError('bad_redirect', `a ${response.statusCode} answer without a Location`);
        }
        try {
          current = new URL(location, current);
        } catch {
          throw new FetchError('bad_redirect', 'a redirect to an invalid URL');
        }
        continue;
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        await response.body.dump();
        const retryable = response.statusCode === 429 || response.statusCode >= 500;
        throw new FetchError(
          `http_${response.statusCode}`,
          `the server answered ${response.statusCode}`,
          retryable,
        );
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        abandon(response.body);
        throw new FetchError('too_large', `${declared} bytes is more than the ${options.maxBytes} allowed`);
      }
      const chunks: Buffer[] = [];
      let received = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > options.maxBytes) {
          abandon(response.body);
          throw new FetchError('too_large', `the body passed the ${options.maxBytes} bytes allowed`);
        }
        chunks.push(chunk);
      }
      return { bytes: Buffer.concat(chunks, received), finalUrl: current.href };
    }
  } catch (error) {
    throw classify(error, deadline, options.timeoutMs);
  }
}

/** Downloads images over a guarded keep-alive pool, with limits, redirects checked hop by hop, and retries. */
export function createImageFetcher(options: ImageFetchOptions): ImageFetcher {
  const settings: Required<ImageFetchOptions> = {
    maxRedirects: 5,
    attempts: 3,
    retryBaseDelayMs: 250,
    userAgent: 'image-service/0.1',
    ...options,
  };
  const agent = createGuardedAgent({
    allowPrivateNetworks: settings.allowPrivateNetworks,
    connectTimeoutMs: Math.min(settings.timeoutMs, 10_000),
    connectionsPerOrigin: 8,
  });
  return {
    async fetchImage(url) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await fetchOnce(agent, url, settings);
        } catch (error) {
          const failure = error instanceof FetchError ? error : classify(error, AbortSignal.abort(), 0);
          if (!failure.retryable || attempt >= settings.attempts) throw failure;
          // Exponential backoff with full jitter, so many workers do not retry a struggling host in step.
          await delay(Math.random() * settings.retryBaseDelayMs * 2 ** (attempt - 1));
        }
      }
    },
    close: () => agent.close(),
  };
}
