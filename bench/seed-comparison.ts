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

/** One round's CPU per image: the codec alone, then the service, then the seed's stack, one after the other. */
export interface CostRound {
  readonly codec_cpu_ms_per_image: number;
  readonly service_cpu_ms_per_image: number;
  readonly seed_stack_cpu_ms_per_image: number;
  /** The service over the codec alone. */
  readonly overhead_ratio: number;
  /** The service over the seed's stack. */
  readonly cpu_vs_seed_stack: number;
}

/** The rounds' ratios averaged: each ratio is of two passes of one round, never of passes minutes apart. */
export interface PairedCost {
  readonly codec_cpu_ms_per_image: number;
  readonly overhead_ratio: number;
  readonly cpu_vs_seed_stack: number;
}

export interface SeedComparison {
  readonly delay_ms: number;
  readonly rounds: number;
  /** The fastest pass of each, and the cheapest (CPU per image) pass of each. */
  readonly service: { readonly fastest: CostedPass; readonly cheapest: CostedPass };
  readonly seed_stack: { readonly fastest: CostedPass; readonly cheapest: CostedPass };
  /**
   * Each round's service pass against the codec alone on the same images just before it, and against the
   * seed's stack's pass just after it: the machine's speed drifts by tens of percent over minutes, so CPU is
   * compared within a round, and the rounds' ratios averaged.
   */
  readonly cost_rounds: readonly CostRound[];
  readonly paired: PairedCost;
}

const round2 = (value: number) => Math.round(value * 100) / 100;
const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

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
    };
    const costRounds: CostRound[] = [];
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
      costRounds.push({
        codec_cpu_ms_per_image: codec.cpu_ms_per_image,
        service_cpu_ms_per_image: service.cpu_ms_per_image,
        seed_stack_cpu_ms_per_image: seedPass.cpu_ms_per_image,
        overhead_ratio: round2(service.cpu_ms_per_image / codec.cpu_ms_per_image),
        cpu_vs_seed_stack: round2(service.cpu_ms_per_image / seedPass.cpu_ms_per_image),
      });
      kept.service.fastest = better(kept.service.fastest, service, 'images_per_second');
      kept.service.cheapest = better(kept.service.cheapest, service, 'cpu_ms_per_image');
      kept.seed.fastest = better(kept.seed.fastest, seedPass, 'images_per_second');
      kept.seed.cheapest = better(kept.seed.cheapest, seedPass, 'cpu_ms_per_image');
    }
    const { service, seed: seedKept } = kept;
    if (!service.fastest || !service.cheapest || !seedKept.fastest || !seedKept.cheapest) {
      throw new Error('no round was measured');
    }
    // Ratios of the rounds' own passes, averaged; the codec's figure is the rounds' average, for the record.
    const paired: PairedCost = {
      codec_cpu_ms_per_image:
        Math.round(mean(costRounds.map((round) => round.codec_cpu_ms_per_image)) * 10) / 10,
      overhead_ratio: round2(mean(costRounds.map((round) => round.overhead_ratio))),
      cpu_vs_seed_stack: round2(mean(costRounds.map((round) => round.cpu_vs_seed_stack))),
    };
    return {
      delay_ms: delayMs,
      rounds,
      service: { fastest: service.fastest, cheapest: service.cheapest },
      seed_stack: { fastest: seedKept.fastest, cheapest: seedKept.cheapest },
      cost_rounds: costRounds,
      paired,
    };
  } finally {
    await seed?.close();
    await ours.close();
  }
}
