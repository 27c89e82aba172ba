import { createDiskImageStore } from './disk-store.js';
import type { ImageStore } from './image-store.js';
import { createS3ImageStore, type S3StoreSettings } from './s3-store.js';

/** The storage settings both programs read: the folder, and the bucket when one is set (S3_BUCKET). */
export interface StorageSettings {
  readonly storageDir: string;
  readonly storageMinFreeBytes: number;
  readonly s3?: S3StoreSettings;
}

/** The store the settings choose: the bucket when S3_BUCKET is set, the folder under STORAGE_DIR otherwise. */
export function openImageStore(settings: StorageSettings): ImageStore {
  if (settings.s3) return createS3ImageStore(settings.s3);
  return createDiskImageStore(settings.storageDir, { minFreeBytes: settings.storageMinFreeBytes });
}
