export { createDiskImageStore, type DiskImageStore, type DiskStoreOptions } from './disk-store.js';
export {
  contentKey,
  contentTypeOf,
  IMAGE_CACHE_CONTROL,
  imageEtag,
  isImageKey,
} from './image-keys.js';
export type { ImageStore, StorageSpace, StoredImage } from './image-store.js';
export { openImageStore, type StorageSettings } from './open-store.js';
export { createS3Client, createS3ImageStore, type S3StoreSettings } from './s3-store.js';
export {
  isStorageUnavailable,
  STORAGE_FAULTS,
  type StorageFaultCode,
  StorageUnavailable,
  storageFaultOf,
} from './storage-faults.js';
