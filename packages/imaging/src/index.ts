export {
  CONTENT_TYPES,
  type CompressedImage,
  type CompressionPlan,
  type CompressionPolicy,
  compressImage,
  ENCODER_FINGERPRINT,
  ENCODER_SETTINGS,
  encodeImage,
  FILE_EXTENSIONS,
  ImageError,
  type ImageErrorCode,
  type ImageFormat,
  outputFormatFor,
  planCompression,
  sniffOutputFormat,
} from './compress-image.js';
export { configureEncoder, type EncoderSettings } from './encoder-settings.js';
export {
  readJpegQuantisationTables,
  STANDARD_CHROMINANCE_TABLE,
  STANDARD_LUMINANCE_TABLE,
  scaledStandardTable,
  standardJpegQuality,
} from './jpeg-quality.js';
