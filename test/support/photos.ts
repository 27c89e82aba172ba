import sharp from 'sharp';
import { seededRandom } from './random.js';

/**
 * A photo-like JPEG: smooth colour gradients, a few soft shapes and sensor-like noise, at quality 90,
 * as product photos usually arrive.
 */
export async function photoLikeJpeg(
  width: number,
  height: number,
  seed: number,
  quality = 90,
): Promise<Buffer> {
  const next = seededRandom(seed);
  const pixels = Buffer.alloc(width * height * 3);
  const cx = next() * width;
  const cy = next() * height;
  const radius = (0.2 + next() * 0.3) * Math.min(width, height);
  const tint = [next() * 80, next() * 80, next() * 80];
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const inside = Math.hypot(x - cx, y - cy) < radius ? 60 : 0;
      const offset = (y * width + x) * 3;
      pixels[offset] = clamp((x / width) * 200 + (tint[0] ?? 0) + inside + (next() - 0.5) * 24);
      pixels[offset + 1] = clamp((y / height) * 180 + (tint[1] ?? 0) + (next() - 0.5) * 24);
      pixels[offset + 2] = clamp(
        ((x + y) / (width + height)) * 160 + (tint[2] ?? 0) - inside + (next() - 0.5) * 24,
      );
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

function clamp(value: number): number {
  return Math.max(0, Math.min(255, Math.round(value)));
}
