/**
 * Why the store cannot take an image now. None of these is the image's fault: the job that meets one waits and
 * tries again, and the image is produced once the storage is back.
 */
export const STORAGE_FAULTS = {
  storage_full: 'no space is left on the storage',
  storage_quota_exceeded: 'the storage quota is used up',
  storage_read_only: 'the storage is read-only',
  storage_not_writable: 'the storage folder may not be written',
  storage_missing: 'the storage folder or bucket is gone',
  storage_unreachable: 'the storage does not answer',
  storage_credentials_refused: 'the storage refuses our credentials or access',
  storage_throttled: 'the storage asks us to slow down',
  storage_server_error: 'the storage answers with server errors',
  storage_misconfigured:
    'the storage refuses our requests as configured (its address, region, certificate or addressing style)',
  storage_output_deleting: 'the output is being deleted; it is made again once that is done',
  storage_low_space: 'free space on the storage is below STORAGE_MIN_FREE_BYTES',
} as const;

export type StorageFaultCode = keyof typeof STORAGE_FAULTS;

/**
 * The storage cannot be written: an outage, not a failure of the image being stored. The message is ours (it
 * names no path, so readiness can show it); the file system's own error is the cause, for the logs.
 */
export class StorageUnavailable extends Error {
  override name = 'StorageUnavailable';
  readonly code: StorageFaultCode;

  constructor(code: StorageFaultCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${STORAGE_FAULTS[code]} (${detail})` : STORAGE_FAULTS[code], options);
    this.code = code;
  }
}

/** The StorageUnavailable an error is or was caused by (also when wrapped), or undefined. */
export function storageFaultOf(error: unknown): StorageUnavailable | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 4; depth += 1) {
    if (current instanceof StorageUnavailable) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether an error is, or was caused by, the storage being unavailable. */
export function isStorageUnavailable(error: unknown): boolean {
  return storageFaultOf(error) !== undefined;
}

/** The storage fault each of the file system's error codes means. */
const FAULTS_BY_ERRNO: Readonly<Record<string, StorageFaultCode>> = {
  ENOSPC: 'storage_full',
  EDQUOT: 'storage_quota_exceeded',
  EROFS: 'storage_read_only',
  EACCES: 'storage_not_writable',
  EPERM: 'storage_not_writable',
  ENOENT: 'storage_missing',
  ENOTDIR: 'storage_missing',
  // A network file system that stopped answering, or a disk that fails.
  EIO: 'storage_unreachable',
  ESTALE: 'storage_unreachable',
  ENOTCONN: 'storage_unreachable',
  ETIMEDOUT: 'storage_unreachable',
  EHOSTDOWN: 'storage_unreachable',
};

/**
 * The error a write under the storage folder met, as a StorageUnavailable when it is one of the storage's
 * faults (every path written is inside the folder, so a missing one means the folder went away).
 */
export function asStorageFault(error: unknown): unknown {
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const code = errno === undefined ? undefined : FAULTS_BY_ERRNO[errno];
  return code ? new StorageUnavailable(code, errno, { cause: error }) : error;
}

/** Network errors meeting an object store: it is down, or the way to it is. */
const UNREACHABLE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** Answers of an object store that mean our credentials or rights are refused. */
const REFUSED_CREDENTIALS = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AllAccessDisabled',
  'AccountProblem',
]);

const THROTTLED = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
]);

/** Answers that mean the settings do not fit the store (S3_REGION, S3_ENDPOINT, S3_FORCE_PATH_STYLE, S3_BUCKET). */
const MISCONFIGURED = new Set([
  'PermanentRedirect',
  'TemporaryRedirect',
  'Redirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
  'InvalidBucketName',
]);

/** TLS failures: the store's certificate is not one we trust for its name, or it does not speak TLS. */
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/**
 * The error an object store's client met, as a StorageUnavailable when it means the store cannot serve us now
 * (down or unreachable, refusing our credentials, throttling, failing, the bucket gone); other errors as they are.
 */
export function asObjectStoreFault(error: unknown): unknown {
  const code = objectStoreFaultCode(error);
  if (!code) return error;
  const described = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = described.$metadata?.httpStatusCode;
  const detail = [described.code ?? described.name, status].filter((part) => part !== undefined).join(' ');
  return new StorageUnavailable(code, detail || undefined, { cause: error });
}

function objectStoreFaultCode(error: unknown): StorageFaultCode | undefined {
  if (!error || typeof error !== 'object') return undefined;
  if (error instanceof StorageUnavailable) return error.code;
  const { name, code, $metadata, errors } = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    errors?: unknown[];
  };
  // Connecting to every address of a name at once fails with all their errors.
  if (
    Array.isArray(errors) &&
    errors.some((inner) => objectStoreFaultCode(inner) === 'storage_unreachable')
  ) {
    return 'storage_unreachable';
  }
  if (code && UNREACHABLE_NETWORK_CODES.has(code)) return 'storage_unreachable';
  if (name === 'TimeoutError' || name === 'RequestTimeout') {
    return 'storage_unreachable';
  }
  if (code && TLS_CODES.has(code)) return 'storage_misconfigured';
  if (name === 'NoSuchBucket') return 'storage_missing';
  if (name && MISCONFIGURED.has(name)) return 'storage_misconfigured';
  if (name && REFUSED_CREDENTIALS.has(name)) return 'storage_credentials_refused';
  if (name && THROTTLED.has(name)) return 'storage_throttled';
  const status = $metadata?.httpStatusCode;
  if (status === 401 || status === 403) return 'storage_credentials_refused';
  if (status === 301 || status === 307) return 'storage_misconfigured';
  // A HEAD's 400 has no body to name it: the request as a whole was refused (a region the store does not take).
  if (status === 400 && (name === undefined || ['BadRequest', 'Unknown', 'UnknownError'].includes(name))) {
    return 'storage_misconfigured';
  }
  if (status === 429 || status === 503) return 'storage_throttled';
  if (status !== undefined && status >= 500) return 'storage_server_error';
  const cause = (error as { cause?: unknown }).cause;
  return cause ? objectStoreFaultCode(cause) : undefined;
}
