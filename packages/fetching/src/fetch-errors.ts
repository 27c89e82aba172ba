import type { ImageFailureCode } from '@imgsvc/domain';

/** The image failure codes a download can end with (the domain holds the list and what each means). */
export type FetchErrorCode =
  | Extract<
      ImageFailureCode,
      | 'blocked_address'
      | 'unsupported_protocol'
      | 'too_large'
      | 'fetch_timeout'
      | 'too_many_redirects'
      | 'bad_redirect'
      | 'dns_error'
      | 'connection_error'
    >
  | `http_${number}`;

export interface FetchErrorOptions {
  /** A failure worth another attempt. */
  readonly retryable?: boolean;
  /** How long the server asked us to wait before trying again (Retry-After), if it said. */
  readonly retryAfterMs?: number;
  /** For the server's log only: what the client must not learn, such as the addresses a name resolved to. */
  readonly detail?: string;
}

/**
 * Why a URL could not be fetched. `code` and `message` reach the client (results, webhook state); `detail`
 * stays in the server's log.
 */
export class FetchError extends Error {
  override name = 'FetchError';
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly detail?: string;
  constructor(
    readonly code: FetchErrorCode,
    message: string,
    options: FetchErrorOptions = {},
  ) {
    super(message);
    this.retryable = options.retryable ?? false;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}

/**
 * A host the address policy refuses. The same words whether the URL named an address or a name that resolved
 * to one, so the client learns nothing of internal DNS; what it resolved to goes in `detail`.
 */
export function blockedAddress(detail: string): FetchError {
  return new FetchError('blocked_address', 'the host is not allowed', { detail });
}

/** Finds our FetchError inside the error chains that sockets and undici wrap around it. */
export function findFetchError(error: unknown): FetchError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    if (current instanceof FetchError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
