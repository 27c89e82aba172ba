import { compressImage } from '@imgsvc/imaging';
import sharp from 'sharp';
import { photoLikeJpeg } from '../test/support/photos.js';

export interface FormatSavings {
  readonly format: string;
  readonly images: number;
  readonly input_kb: number;
  readonly output_kb: number;
  readonly saved_percent: number;
}

/** A small mixed set, as catalogues send it: photos as JPEG, product shots as PNG and WebP, an AVIF, a GIF. */
async function mixedSet(): Promise<{ format: string; bytes: Buffer }[]> {
  const photos = await Promise.all(
    [
      [1600, 1200],
      [1200, 1200],
      [900, 1200],
    ].map(([width, height], index) => photoLikeJpeg(width ?? 0, height ?? 0, 100 + index)),
  );
  const set: { format: string; bytes: Buffer }[] = photos.map((bytes) => ({ format: 'jpeg', bytes }));
  set.push({ format: 'png', bytes: await sharp(photos[1]).resize(800).png().toBuffer() });
  set.push({ format: 'png', bytes: await sharp(photos[2]).resize(600).ensureAlpha(0.8).png().toBuffer() });
  set.push({ format: 'webp', bytes: await sharp(photos[0]).resize(1000).webp({ quality: 90 }).toBuffer() });
  set.push({ format: 'webp', bytes: await sharp(photos[2]).resize(700).webp({ quality: 85 }).toBuffer() });
  set.push({ format: 'avif', bytes: await sharp(photos[1]).resize(800).avif({ quality: 80 }).toBuffer() });
  set.push({ format: 'gif', bytes: await sharp(photos[0]).resize(400).gif().toBuffer() });
  return set;
}

/** Bytes in and out per format for the mixed set, compressed with the service's own settings (quality 50). */
export async function measureFormatSavings(quality: number): Promise<FormatSavings[]> {
  const totals = new Map<string, { images: number; input: number; output: number }>();
  for (const { format, bytes } of await mixedSet()) {
    const output = await compressImage(bytes, { quality, maxPixels: 50_000_000 });
    const total = totals.get(format) ?? { images: 0, input: 0, output: 0 };
    total.images += 1;
    total.input += bytes.length;
    total.output += output.data.length;
    totals.set(format, total);
  }
  return [...totals].map(([format, total]) => ({
    format,
    images: total.images,
    input_kb: Math.round(total.input / 1024),
    output_kb: Math.round(total.output / 1024),
    saved_percent: Math.round((1 - total.output / total.input) * 1000) / 10,
  }));
}
