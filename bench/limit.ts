import { availableParallelism } from 'node:os';
import { compressImage, configureEncoder } from '@imgsvc/imaging';
import type { BenchImage } from './image-set.js';

export interface LimitResult {
  readonly images: number;
  readonly concurrency: number;
  readonly images_per_second: number;
  readonly average_output_bytes: number;
  /** CPU time of this process per image (every libvips thread included), in the cheapest round. */
  readonly cpu_ms_per_image: number;
}

/**
 * The limit: sharp decoding and re-encoding the images with the service's own settings, in this process, at the
 * worker's concurrency (one image per core, one libvips thread each, as the worker runs them). Best of `rounds`.
 */
export async function measureSharpLimit(
  images: readonly BenchImage[],
  quality: number,
  rounds = 3,
): Promise<LimitResult> {
  configureEncoder({ concurrency: 1, cache: false });
  const concurrency = availableParallelism();
  let best = 0;
  let cheapest = Number.POSITIVE_INFINITY;
  let outputBytes = 0;
  for (let round = 0; round < rounds; round += 1) {
    let next = 0;
    let bytes = 0;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let index = next++; index < images.length; index = next++) {
          const image = images[index];
          if (!image) continue;
          // Awaited before it is added: `bytes += await …` would add to the total read before the await.
          const output = await compressImage(image.bytes, { quality, maxPixels: 50_000_000 });
          bytes += output.data.length;
        }
      }),
    );
    best = Math.max(best, images.length / ((performance.now() - started) / 1000));
    const cpu = process.cpuUsage(cpuBefore);
    cheapest = Math.min(cheapest, (cpu.user + cpu.system) / 1000 / images.length);
    outputBytes = bytes;
  }
  return {
    images: images.length,
    concurrency,
    images_per_second: Math.round(best * 10) / 10,
    average_output_bytes: Math.round(outputBytes / images.length),
    cpu_ms_per_image: Math.round(cheapest * 10) / 10,
  };
}
