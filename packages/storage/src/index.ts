export {
  contentKey,
  createImageStore,
  type ImageStore,
  isImageKey,
  type StoredImage,
} from './image-store.js';
