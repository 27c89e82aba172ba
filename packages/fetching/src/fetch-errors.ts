export type FetchErrorCode =
  | 'blocked_address'
  | 'unsupported_protocol'
  | 'too_large'
  | 'fetch_timeout'
  | 'too_many_redirects'
  | 'bad_redirect'
  | 'dns_error'
  | 'connection_error'
  | `http_${number}`;

/** Why a URL could not be fetched; `retryable` marks the failures worth another attempt. */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(
    readonly code: FetchErrorCode,
    message: string,
    readonly retryable = false,
    /** How long the server asked us to wait before trying again (Retry-After), if it said. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
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
