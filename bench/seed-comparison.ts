/**
 * The service against the seed's stack end to end: the same images from the same server (answering at once,
 * or `delayMs` before each image's first byte), the same MongoDB and Redis servers, one worker process each
 * with the concurrency its defaults give, passes alternated. Each pass is timed from the upload to the webhook
 * and costed in CPU seconds of every service process: the API, the worker (with its pool), MongoDB and Redis
 * (the image server and the client left out).
 */
import { availableParallelism } from 'node:os';
import { type Connections, pipelineHarness, twoPerProduct } from './harness.js';
import type { BenchImage } from './image-set.js';
import { measureSharpLimit } from './limit.js';
import { startSeedStack } from './peer-seed-stack.js';
import { cpuSecondsOf } from './process-cpu.js';
import { servedImages } from './workers.js';

export interface CostedPass {
  readonly images: number;
  readonly seconds: number;
  readonly images_per_second: number;
  readonly cpu_seconds: number;
  readonly cpu_ms_per_image: number;
  /** Average size of the images the pass stored. */
  readonly average_output_bytes?: number;
}

/** The service's cheapest pass over the codec's CPU per image, both measured in the same round. */
export interface OverheadRound {
  readonly service_cpu_ms_per_image: number;
  readonly codec_cpu_ms_per_image: number;
  readonly ratio: number;
}

export interface SeedComparison {
  readonly delay_ms: number;
  readonly rounds: number;
  /** The fastest pass of each, and the cheapest (CPU per image) pass of each. */
  readonly service: { readonly fastest: CostedPass; readonly cheapest: CostedPass };
  readonly seed_stack: { readonly fastest: CostedPass; readonly cheapest: CostedPass };
  /**
   * Each round's service pass against the codec alone on the same images just before it: the machine's speed
   * drifts over minutes, so the two are compared within a round. The lowest ratio of the rounds.
   */
  readonly overhead: OverheadRound;
}

function costed(images: number, seconds: number, cpuSeconds: number, outputBytes?: number): CostedPass {
  return {
    images,
    seconds: Math.round(seconds * 100) / 100,
    images_per_second: Math.round((images / seconds) * 10) / 10,
    cpu_seconds: Math.round(cpuSeconds * 100) / 100,
    cpu_ms_per_image: Math.round((cpuSeconds / images) * 10000) / 10,
    ...(outputBytes === undefined ? {} : { average_output_bytes: Math.round(outputBytes / images) }),
  };
}

/** Times one pass and what it cost the given processes; the outputs' bytes are read once it is over. */
async function timePass(
  pids: () => readonly (number | undefined)[],
  images: number,
  pass: () => Promise<void>,
  storedBytes: () => Promise<number | undefined>,
) {
  const cpuBefore = await cpuSecondsOf(pids());
  const started = performance.now();
  await pass();
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = (await cpuSecondsOf(pids())) - cpuBefore;
  return costed(images, seconds, cpuSeconds, await storedBytes());
}

const better = (
  kept: CostedPass | undefined,
  next: CostedPass,
  key: 'images_per_second' | 'cpu_ms_per_image',
) =>
  kept === undefined || (key === 'images_per_second' ? next[key] > kept[key] : next[key] < kept[key])
    ? next
    : kept;

export async function compareWithSeedStack(
  connections: () => Connections,
  servers: { readonly mongo?: number; readonly redis?: number },
  images: readonly BenchImage[],
  quality: number,
  delayMs: number,
  rounds: number,
  log: (message: string) => void,
): Promise<SeedComparison> {
  const ours = await pipelineHarness(
    connections(),
    `bench_seed_cmp_${delayMs}_${Date.now()}`,
    servedImages(images),
    delayMs,
  );
  const peerConnections = connections();
  let seed: Awaited<ReturnType<typeof startSeedStack>> | undefined;
  try {
    const worker = await ours.startWorker();
    seed = await startSeedStack(
      `${peerConnections.mongoUrl}/bench_seed_stack_${delayMs}_${Date.now()}`,
      peerConnections.redisUrl,
      // Celery's default: one pool process per core.
      availableParallelism(),
    );
    const peer = seed;
    const shared = [servers.mongo, servers.redis];
    let catalogue = 0;
    const products = () => {
      catalogue += 1;
      return twoPerProduct(
        images.map((image) => `${ours.imagesUrl}/${image.name}?seed_cmp=${delayMs}_${catalogue}`),
      );
    };
    const kept = {
      service: {
        fastest: undefined as CostedPass | undefined,
        cheapest: undefined as CostedPass | undefined,
      },
      seed: { fastest: undefined as CostedPass | undefined, cheapest: undefined as CostedPass | undefined },
      overhead: undefined as OverheadRound | undefined,
    };
    for (let round = 1; round <= rounds; round += 1) {
      log(`the service and the seed's stack, images ${delayMs} ms late: round ${round} of ${rounds}`);
      await ours.clearStorage();
      const codec = await measureSharpLimit(images, quality, 1);
      const service = await timePass(
        () => [ours.api.child.pid, worker.child.pid, ...shared],
        images.length,
        async () => {
          const id = await ours.upload(products());
          const status = await ours.waitFor(id, (body) => body.status === 'completed', 180_000);
          if (status.counts.images_succeeded !== images.length) {
            throw new Error(
              `the service stored ${status.counts.images_succeeded} of ${images.length} images`,
            );
          }
        },
        () => ours.storedBytes(),
      );
      await peer.clearStorage();
      const seedPass = await timePass(
        () => [...peer.pids, ...shared],
        images.length,
        async () => {
          const id = await peer.upload(products());
          const status = await peer.waitFor(id, 180_000);
          if (status.status !== 'completed')
            throw new Error(`the seed stack's request ended ${status.status}`);
        },
        () => peer.storedBytes(),
      );
      const overhead = {
        service_cpu_ms_per_image: service.cpu_ms_per_image,
        codec_cpu_ms_per_image: codec.cpu_ms_per_image,
        ratio: Math.round((service.cpu_ms_per_image / codec.cpu_ms_per_image) * 100) / 100,
      };
      if (!kept.overhead || overhead.ratio < kept.overhead.ratio) kept.overhead = overhead;
      kept.service.fastest = better(kept.service.fastest, service, 'images_per_second');
      kept.service.cheapest = better(kept.service.cheapest, service, 'cpu_ms_per_image');
      kept.seed.fastest = better(kept.seed.fastest, seedPass, 'images_per_second');
      kept.seed.cheapest = better(kept.seed.cheapest, seedPass, 'cpu_ms_per_image');
    }
    const { service, seed: seedKept, overhead } = kept;
    if (!service.fastest || !service.cheapest || !seedKept.fastest || !seedKept.cheapest || !overhead) {
      throw new Error('no round was measured');
    }
    return {
      delay_ms: delayMs,
      rounds,
      service: { fastest: service.fastest, cheapest: service.cheapest },
      seed_stack: { fastest: seedKept.fastest, cheapest: seedKept.cheapest },
      overhead,
    };
  } finally {
    await seed?.close();
    await ours.close();
  }
}
