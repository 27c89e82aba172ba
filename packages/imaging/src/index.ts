export {
  type CompressionPolicy,
  compressImage,
  ENCODER_FINGERPRINT,
  ENCODER_SETTINGS,
  encodeImage,
  FILE_EXTENSIONS,
  ImageError,
  type ImageFormat,
  planCompression,
  sniffOutputFormat,
} from './compress-image.js';
export { configureEncoder, type EncoderSettings } from './encoder-settings.js';
