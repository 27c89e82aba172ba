export {
  contentKey,
  createImageStore,
  type ImageStore,
  type ImageStoreOptions,
  isImageKey,
  type StorageSpace,
} from './image-store.js';
export {
  isStorageUnavailable,
  STORAGE_FAULTS,
  type StorageFaultCode,
  StorageUnavailable,
  storageFaultOf,
} from './storage-faults.js';
