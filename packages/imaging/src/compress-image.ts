import type { ImageFailureCode } from '@imgsvc/domain';
import sharp, { type Metadata } from 'sharp';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif';

/** The image failure codes decoding and encoding can end with (the domain holds the list and their meaning). */
export type ImageErrorCode = Extract<
  ImageFailureCode,
  'not_an_image' | 'unsupported_format' | 'too_many_pixels' | 'decode_error'
>;

/** An image that cannot be compressed, with a stable code for clients and a short reason. */
export class ImageError extends Error {
  override name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface CompressionPolicy {
  /** 1-100: libjpeg quality for JPEG, the matching scale for WebP, AVIF and palette PNG. */
  readonly quality: number;
  /** Largest width x height accepted, checked from the header before any pixel is decoded. */
  readonly maxPixels: number;
}

export interface CompressedImage {
  readonly data: Buffer;
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

export const FILE_EXTENSIONS: Readonly<Record<ImageFormat, string>> = {
  jpeg: 'jpg',
  png: 'png',
  webp: 'webp',
  avif: 'avif',
  gif: 'gif',
};

/**
 * Which format a decoded input is written in. Formats with their own lossy or palette mode keep it; TIFF, a
 * container for scans and prints, becomes JPEG (PNG when it has transparency).
 */
function outputFormatFor(inputFormat: string, hasAlpha: boolean): ImageFormat | undefined {
  switch (inputFormat) {
    case 'jpeg':
    case 'png':
    case 'webp':
    case 'gif':
      return inputFormat;
    case 'heif':
      return 'avif';
    case 'tiff':
      return hasAlpha ? 'png' : 'jpeg';
    default:
      return undefined;
  }
}

const ANIMATED_FORMATS = new Set(['gif', 'webp']);

/**
 * The output format read from the first bytes alone, for the formats whose signature decides it (JPEG, PNG,
 * WebP, GIF, AVIF); undefined for the rest (TIFF, whose output depends on its transparency, HEIC, unknown).
 * It lets an image already stored be found without asking the decoder; `planCompression` still decides.
 */
export function sniffOutputFormat(bytes: Uint8Array): ImageFormat | undefined {
  const ascii = (start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(4, 8) === 'ftyp' && ['avif', 'avis'].includes(ascii(8, 12))) return 'avif';
  return undefined;
}

/**
 * The encoders' settings besides quality, in one place: the benchmark matches its peer (Pillow) to them.
 */
export const ENCODER_SETTINGS = {
  // Standard (Annex K) tables scaled by quality, as libjpeg and Pillow write them; optimised Huffman codes.
  jpeg: { quantisationTable: 0, optimiseCoding: true, mozjpeg: false },
  // libimagequant at effort 3 rather than 7: a third of the time for about 15% more bytes; without dithering
  // (as Pillow quantizes): 27% less time and 11% fewer bytes again (measured). zlib level 6 without row
  // filters, sharp's defaults, written out so that the peer can be given the same.
  png: { palette: true, effort: 3, dither: 0, compressionLevel: 6, adaptiveFiltering: false },
  // Effort 2 rather than 4: 40% less time for about 8% more bytes (measured). libwebp's `method`.
  webp: { effort: 2 },
} as const;

/**
 * Formats refused before the decoder sees them, known by their first bytes: PDF, which the decoder does not
 * read (it would be "not an image"), and camera RAW files, some of which are TIFF inside and would be taken for
 * a TIFF. DNG, NEF and ARW files have no signature of their own and are still read as TIFF.
 */
function refusedFormatOf(bytes: Uint8Array): string | undefined {
  const ascii = (start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));
  if (ascii(0, 5) === '%PDF-') return 'pdf';
  const tiff = ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*';
  if (tiff && ascii(8, 10) === 'CR') return 'raw'; // Canon CR2
  if (ascii(4, 12) === 'ftypcrx ') return 'raw'; // Canon CR3
  if (ascii(0, 16) === 'FUJIFILMCCD-RAW ') return 'raw'; // Fujifilm RAF
  if (['IIRO', 'IIRS', 'MMOR'].includes(ascii(0, 4))) return 'raw'; // Olympus ORF
  if (ascii(0, 4) === 'IIU\0') return 'raw'; // Panasonic RW2
  return undefined;
}

/** What an image will become, decided from its header alone (no pixel is decoded yet). */
export interface CompressionPlan {
  readonly output: ImageFormat;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
}

/** Reads the header: refuses what is not an image, an unsupported format, or too many pixels. */
export async function planCompression(
  bytes: Uint8Array,
  policy: CompressionPolicy,
): Promise<CompressionPlan> {
  const refused = refusedFormatOf(bytes);
  if (refused) throw new ImageError('unsupported_format', `${refused} images are not supported`);
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new ImageError('not_an_image', 'the content is not an image in a known format');
  }
  const inputFormat = metadata.format === 'heif' && metadata.compression !== 'av1' ? 'heic' : metadata.format;
  const output = outputFormatFor(inputFormat ?? '', metadata.hasAlpha ?? false);
  if (!output)
    throw new ImageError('unsupported_format', `${inputFormat ?? 'this'} images are not supported`);
  const width = metadata.width ?? 0;
  const height = metadata.pageHeight ?? metadata.height ?? 0;
  const frames = ANIMATED_FORMATS.has(output) ? Math.max(1, metadata.pages ?? 1) : 1;
  if (width * height * frames > policy.maxPixels) {
    throw new ImageError(
      'too_many_pixels',
      `${width}x${height}${frames > 1 ? ` with ${frames} frames` : ''} is more than ${policy.maxPixels} pixels`,
    );
  }
  return { output, width, height, frames };
}

/**
 * Re-encodes an image at the policy's quality in the planned format. Keeps its pixel dimensions, applies its
 * EXIF orientation and strips its metadata (pixels are converted to sRGB).
 */
export async function encodeImage(
  bytes: Uint8Array,
  plan: CompressionPlan,
  policy: CompressionPolicy,
): Promise<CompressedImage> {
  const animated = plan.frames > 1;
  const pipeline = sharp(bytes, {
    limitInputPixels: policy.maxPixels,
    animated,
    failOn: 'error',
    sequentialRead: true,
  }).rotate();
  switch (plan.output) {
    case 'jpeg':
      pipeline.jpeg({ quality: policy.quality, ...ENCODER_SETTINGS.jpeg });
      break;
    case 'png':
      pipeline.png({ quality: policy.quality, ...ENCODER_SETTINGS.png });
      break;
    case 'webp':
      pipeline.webp({ quality: policy.quality, ...ENCODER_SETTINGS.webp });
      break;
    case 'avif':
      pipeline.avif({ quality: policy.quality });
      break;
    case 'gif':
      pipeline.gif();
      break;
  }
  try {
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return { data, format: plan.output, width: info.width, height: animated ? plan.height : info.height };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ImageError('decode_error', `the image could not be decoded: ${reason}`);
  }
}

export async function compressImage(bytes: Uint8Array, policy: CompressionPolicy): Promise<CompressedImage> {
  return encodeImage(bytes, await planCompression(bytes, policy), policy);
}

/**
 * Part of every output's name: a new codec build or a change of encoding code gives new names, so outputs
 * made with other settings are never mistaken for current ones.
 */
export const ENCODER_FINGERPRINT = `imaging/4 sharp/${sharp.versions.sharp} vips/${sharp.versions.vips}`;
