/**
 * Cost per image against the size of the request: one request of 100, 1,000 and 10,000 distinct small images
 * (two per product) through the real API and one worker, each costed in CPU seconds of every service process
 * (API, worker, MongoDB, Redis; from /proc) per image. Small images keep the codec's share small, so that what
 * grows with the request's size, if anything, shows.
 */
import sharp from 'sharp';
import { type Connections, pipelineHarness, type ServedImage, twoPerProduct } from './harness.js';
import { cpuSecondsOf } from './process-cpu.js';

export interface SizedPass {
  readonly images: number;
  readonly seconds: number;
  readonly images_per_second: number;
  readonly cpu_ms_per_image: number;
}

export interface CostBySize {
  readonly image_width: number;
  readonly image_height: number;
  readonly passes: readonly SizedPass[];
  /** CPU per image of the largest request over that of the smallest. */
  readonly largest_vs_smallest: number;
}

const WIDTH = 160;
const HEIGHT = 120;

/** `count` distinct JPEGs: each its own colour and a block placed by its index. */
async function distinctImages(count: number): Promise<Map<string, ServedImage>> {
  const block = await sharp({
    create: { width: 24, height: 24, channels: 3, background: { r: 250, g: 250, b: 250 } },
  })
    .png()
    .toBuffer();
  const images = new Map<string, ServedImage>();
  for (let index = 0; index < count; index += 1) {
    const body = await sharp({
      create: {
        width: WIDTH,
        height: HEIGHT,
        channels: 3,
        background: { r: index % 256, g: Math.floor(index / 256) % 256, b: (index * 7) % 256 },
      },
    })
      .composite([{ input: block, left: index % (WIDTH - 24), top: Math.floor(index / 7) % (HEIGHT - 24) }])
      .jpeg({ quality: 90 })
      .toBuffer();
    images.set(`/sized-${index}.jpg`, { body, type: 'image/jpeg' });
  }
  return images;
}

export async function measureCostBySize(
  connections: Connections,
  servers: { readonly mongo?: number; readonly redis?: number },
  sizes: readonly number[],
  log: (message: string) => void,
): Promise<CostBySize> {
  const largest = Math.max(...sizes);
  log(`cost by size: generating ${largest} distinct images`);
  const images = await distinctImages(largest);
  const paths = [...images.keys()];
  const run = await pipelineHarness(connections, `bench_cost_by_size_${Date.now()}`, images);
  try {
    const worker = await run.startWorker();
    const pids = () => [run.api.child.pid, worker.child.pid, servers.mongo, servers.redis];
    const passes: SizedPass[] = [];
    for (const size of sizes) {
      log(`cost by size: one request of ${size} images`);
      await run.clearStorage();
      const products = twoPerProduct(
        paths.slice(0, size).map((path) => `${run.imagesUrl}${path}?size=${size}`),
      );
      const cpuBefore = await cpuSecondsOf(pids());
      const started = performance.now();
      const id = await run.upload(products);
      const status = await run.waitFor(id, (body) => body.status === 'completed', 1_800_000);
      const seconds = (performance.now() - started) / 1000;
      const cpu = (await cpuSecondsOf(pids())) - cpuBefore;
      if (status.counts.images_succeeded !== size) {
        throw new Error(`only ${status.counts.images_succeeded} of ${size} images succeeded`);
      }
      passes.push({
        images: size,
        seconds: Math.round(seconds * 100) / 100,
        images_per_second: Math.round((size / seconds) * 10) / 10,
        cpu_ms_per_image: Math.round((cpu / size) * 10000) / 10,
      });
    }
    const first = passes[0];
    const last = passes.at(-1);
    return {
      image_width: WIDTH,
      image_height: HEIGHT,
      passes,
      largest_vs_smallest:
        first && last ? Math.round((last.cpu_ms_per_image / first.cpu_ms_per_image) * 100) / 100 : 0,
    };
  } finally {
    await run.close();
  }
}
