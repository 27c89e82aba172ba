import sharp from 'sharp';
import { photoLikeJpeg } from '../test/support/photos.js';

export interface BenchImage {
  readonly name: string;
  readonly format: 'jpeg' | 'png' | 'webp';
  readonly bytes: Buffer;
  readonly megapixels: number;
}

/** Photo sizes around 1 to 3 megapixels, as product photos come. */
const SIZES: readonly (readonly [number, number])[] = [
  [1280, 960],
  [1600, 1200],
  [2048, 1536],
  [1920, 1080],
  [1200, 1500],
];

/**
 * The benchmark's fixed image set, generated the same on every run: photo-like JPEGs at quality 90 in mixed
 * sizes, and beside them a small set of PNG product shots (with transparency) and WebP photos.
 */
export async function benchImageSet(jpegs: number, others: number): Promise<BenchImage[]> {
  const images: BenchImage[] = [];
  for (let index = 0; index < jpegs; index += 1) {
    const [width, height] = SIZES[index % SIZES.length] ?? [1280, 960];
    images.push({
      name: `photo-${index}.jpg`,
      format: 'jpeg',
      bytes: await photoLikeJpeg(width, height, 10_000 + index),
      megapixels: (width * height) / 1e6,
    });
  }
  for (let index = 0; index < others; index += 1) {
    const base = await photoLikeJpeg(800, 600, 20_000 + index);
    if (index % 2 === 0) {
      images.push({
        name: `shot-${index}.png`,
        format: 'png',
        bytes: await sharp(base).ensureAlpha(0.9).png().toBuffer(),
        megapixels: 0.48,
      });
    } else {
      images.push({
        name: `photo-${index}.webp`,
        format: 'webp',
        bytes: await sharp(base).webp({ quality: 90 }).toBuffer(),
        megapixels: 0.48,
      });
    }
  }
  return images;
}
