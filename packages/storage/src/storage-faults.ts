/**
 * Why the store cannot take an image now. None of these is the image's fault: the job that meets one waits and
 * tries again, and the image is produced once the storage is back.
 */
export const STORAGE_FAULTS = {
  storage_full: 'no space is left on the storage',
  storage_quota_exceeded: 'the storage quota is used up',
  storage_read_only: 'the storage is read-only',
  storage_not_writable: 'the storage folder may not be written',
  storage_missing: 'the storage folder is gone',
  storage_unreachable: 'the storage does not answer',
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
