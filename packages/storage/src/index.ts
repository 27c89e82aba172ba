export { contentKey, createImageStore, type ImageStore, isImageKey } from './image-store.js';
